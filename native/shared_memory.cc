// Shared memory for --concurrency > 1: maps a file under /dev/shm (POSIX shared memory is a tmpfs
// there) with MAP_SHARED and hands it to JavaScript as an external ArrayBuffer, so every worker
// process sees the same circuit-breaker counters and outlier-ejection records.
//
// Why a named file and not an anonymous mapping: Node's cluster workers are fork+exec'd, and exec
// drops anonymous mappings. The primary creates the file before forking, passes its path in the
// environment and unlinks it when it exits; workers open it by path.
//
// JavaScript uses Atomics on an Int32Array over this buffer. V8 emits the same locked instructions
// for a plain ArrayBuffer as for a SharedArrayBuffer, which is what makes cross-process counters
// exact (test/unit/upstream/shared-memory.test.ts hammers them from several processes).
//
// Plain N-API, like original_dst.cc. Failures throw with errno text: the caller decides to fall
// back to a single worker and says why.

#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace {

bool GetString(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len + 1);
  if (napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &len) != napi_ok) return false;
  out->resize(len);
  return true;
}

napi_value ThrowErrno(napi_env env, const char* what, const std::string& path, int err) {
  std::string msg = std::string(what) + " " + path + ": " + strerror(err);
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

void Unmap(napi_env /*env*/, void* data, void* hint) {
  munmap(data, reinterpret_cast<size_t>(hint));
}

// open(path, bytes, create) → ArrayBuffer of `bytes` bytes backed by the shared file.
// create: O_CREAT|O_EXCL and ftruncate (the new file reads as zeros); otherwise the file must
// already be at least `bytes` long.
napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  std::string path;
  double bytes_d = 0;
  bool create = false;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 ||
      !GetString(env, argv[0], &path) || napi_get_value_double(env, argv[1], &bytes_d) != napi_ok ||
      napi_get_value_bool(env, argv[2], &create) != napi_ok || !(bytes_d > 0) || bytes_d > 1e10) {
    napi_throw_type_error(env, nullptr, "open(path, bytes, create): bad arguments");
    return nullptr;
  }
  const size_t bytes = static_cast<size_t>(bytes_d);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
  if (fd < 0) return ThrowErrno(env, "open", path, errno);
  if (create) {
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      int err = errno;
      close(fd);
      unlink(path.c_str());
      return ThrowErrno(env, "ftruncate", path, err);
    }
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
      int err = errno != 0 ? errno : EINVAL;
      close(fd);
      return ThrowErrno(env, "size of", path, err);
    }
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) return ThrowErrno(env, "mmap", path, err);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, bytes, Unmap, reinterpret_cast<void*>(bytes), &ab) != napi_ok) {
    munmap(p, bytes);
    napi_throw_error(env, nullptr, "napi_create_external_arraybuffer failed (V8 sandbox?)");
    return nullptr;
  }
  return ab;
}

// unlink(path) → true when removed (or already gone).
napi_value Unlink(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  std::string path;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 || !GetString(env, argv[0], &path)) {
    napi_throw_type_error(env, nullptr, "unlink(path): path must be a string");
    return nullptr;
  }
  napi_value r;
  napi_get_boolean(env, unlink(path.c_str()) == 0 || errno == ENOENT, &r);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, nullptr, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "unlink", NAPI_AUTO_LENGTH, Unlink, nullptr, &fn);
  napi_set_named_property(env, exports, "unlink", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
