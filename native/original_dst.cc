// originalDst(fd): the destination a connection had before iptables REDIRECT rewrote it, read from
// conntrack with getsockopt(SO_ORIGINAL_DST), the way Envoy's original_dst listener filter does.
//
// Plain N-API (C ABI) with no node-addon-api dependency, so one build works across Node versions.
// Every failure returns null rather than throwing: a connection that was not redirected (or a kernel
// without conntrack) is normal, and the caller then routes by Host instead.

#include <node_api.h>

#ifdef __linux__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

// linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h define these, but those kernel headers
// clash with glibc's netinet/in.h; the values are ABI and fixed at 80.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#endif

namespace {

napi_value Null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

#ifdef __linux__
napi_value MakeResult(napi_env env, const char* address, uint16_t port, int family) {
  napi_value obj, addr, p, fam;
  if (napi_create_object(env, &obj) != napi_ok) return Null(env);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr);
  napi_create_uint32(env, port, &p);
  napi_create_uint32(env, static_cast<uint32_t>(family), &fam);
  napi_set_named_property(env, obj, "address", addr);
  napi_set_named_property(env, obj, "port", p);
  napi_set_named_property(env, obj, "family", fam);
  return obj;
}
#endif

napi_value OriginalDst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, nullptr, "originalDst(fd): fd must be a non-negative integer");
    return nullptr;
  }
#ifdef __linux__
  sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return Null(env);

  // Node listens on :: by default, so IPv4 clients arrive on an AF_INET6 socket as ::ffff:a.b.c.d.
  // Conntrack tracked them as IPv4, so they need the SOL_IP query (the kernel routes SOL_IP options
  // on a v6 socket to the IPv4 handler), not IP6T_SO_ORIGINAL_DST.
  bool v4 = local.ss_family == AF_INET;
  if (local.ss_family == AF_INET6) {
    v4 = IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
  } else if (!v4) {
    return Null(env);
  }

  char text[INET6_ADDRSTRLEN];
  if (v4) {
    sockaddr_in orig;
    memset(&orig, 0, sizeof(orig));
    socklen_t len = sizeof(orig);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) != 0 || orig.sin_family != AF_INET) return Null(env);
    if (inet_ntop(AF_INET, &orig.sin_addr, text, sizeof(text)) == nullptr) return Null(env);
    return MakeResult(env, text, ntohs(orig.sin_port), 4);
  }
  sockaddr_in6 orig;
  memset(&orig, 0, sizeof(orig));
  socklen_t len = sizeof(orig);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &len) != 0 || orig.sin6_family != AF_INET6) return Null(env);
  if (inet_ntop(AF_INET6, &orig.sin6_addr, text, sizeof(text)) == nullptr) return Null(env);
  return MakeResult(env, text, ntohs(orig.sin6_port), 6);
#else
  return Null(env);
#endif
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn, supported;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, OriginalDst, nullptr, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
#ifdef __linux__
  napi_get_boolean(env, true, &supported);
#else
  napi_get_boolean(env, false, &supported);
#endif
  // Lets the loader tell "built, but this OS has no SO_ORIGINAL_DST" from a working addon.
  napi_set_named_property(env, exports, "supported", supported);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
