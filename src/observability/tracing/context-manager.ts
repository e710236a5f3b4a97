import { AsyncLocalStorage } from 'node:async_hooks'
import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api'

/**
 * The API's default context manager is a no-op, so without the SDK `startActiveSpan` and `context.active()` would
 * never see a span. This is the SDK's AsyncLocalStorage manager reduced to what the API calls. It is opt-in
 * (`context.setGlobalContextManager(new AsyncLocalStorageContextManager())`): the proxy's own request spans never
 * need it, and AsyncLocalStorage costs something on every async hop once enabled.
 */
export class AsyncLocalStorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>()

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const cb = thisArg === undefined ? fn : fn.bind(thisArg)
    return this.storage.run(context, cb, ...args)
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target
    const fn = target as unknown as (...args: unknown[]) => unknown
    const storage = this.storage
    const bound = function (this: unknown, ...args: unknown[]): unknown {
      return storage.run(context, () => fn.apply(this, args))
    }
    return bound as unknown as T
  }

  enable(): this {
    return this
  }

  disable(): this {
    this.storage.disable()
    return this
  }
}
