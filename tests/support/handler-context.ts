import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { callerKey, type Caller } from "../../services/platform/identity/index.js";

/**
 * A handler context for calling one method of a service's handlers directly, with no server in between;
 * `caller` is what the authentication step would have verified.
 */
export function handlerContext<S extends DescService>(service: S, method: keyof S["method"] & string, signal?: AbortSignal, caller?: Caller): HandlerContext {
  const desc: DescMethod | undefined = service.method[method];
  if (!desc) throw new Error(`${service.typeName} has no method ${method}`);
  return createHandlerContext({
    service,
    method: desc,
    protocolName: "test",
    requestMethod: "POST",
    url: `/${service.typeName}/${desc.name}`,
    requestSignal: signal,
    contextValues: caller ? createContextValues().set(callerKey, caller) : undefined,
  });
}
