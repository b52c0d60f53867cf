/**
 * A gRPC transport that sends exactly the bytes you signed and hands back exactly the bytes it received.
 *
 * Connect's transports serialize the message themselves (toBinary inside the transport) and parse the
 * response before any interceptor sees it, so neither the bytes on the wire nor the response bytes are
 * reachable from an interceptor. coalition-sig-v1 needs both: the signature covers the request bytes as
 * sent, the receipt covers the response bytes as received. So this module builds the transport the way
 * `createGrpcTransport` of @connectrpc/connect-node does (connect's gRPC protocol over connect-node's
 * HTTP/2 client and session manager), with one wrapper around that HTTP client:
 *
 * - request: the body the transport serialized is replaced by one gRPC frame (flag 0, big-endian length)
 *   around the caller's own bytes, the bytes it signed. Nothing is ever re-serialized.
 * - response: the body frames are recorded as they stream past the transport; the message bytes inside
 *   the one frame of a unary response are what the receipt is checked against. Compression is neither
 *   sent nor accepted, so the frame holds the message bytes themselves.
 *
 * The per-call bytes travel through AsyncLocalStorage: the wrapper runs inside the async context of the
 * `unaryExact` call that started it, so concurrent calls on one transport never mix their bytes.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { DescMessage, DescMethodServerStreaming, DescMethodUnary, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createTransport } from "@connectrpc/connect/protocol-grpc";
import type { UniversalClientFn, UniversalClientRequest } from "@connectrpc/connect/protocol";
import { createNodeHttpClient, Http2SessionManager } from "@connectrpc/connect-node";

export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024; // the network's limit on a request or response (network.proto)
/** A request over MAX_MESSAGE_BYTES is still sent, for the network to refuse with INVALID_ARGUMENT /
 * MESSAGE_TOO_LARGE (not retried); past MAX_SEND_BYTES the client refuses it itself (not retried either). */
export const MAX_SEND_BYTES = 16 * 1024 * 1024;

interface CallBytes {
  request: Uint8Array;
  responseFrames: Uint8Array[] | undefined; // undefined: a stream, whose messages are not kept
}

const currentCall = new AsyncLocalStorage<CallBytes>();

export interface ExactResponse<O extends DescMessage> {
  message: MessageShape<O>;
  responseBytes: Uint8Array;
  header: Headers;
  trailer: Headers;
}

export interface ExactTransport {
  /** One unary attempt: `body` is sent as is; the parsed response comes back with its exact bytes. */
  unaryExact<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    message: MessageShape<I>,
    body: Uint8Array,
    header: Headers,
    timeoutMs: number,
  ): Promise<ExactResponse<O>>;
  /** One server-streaming call: `body` (the single request) is sent as is; the responses are parsed as they
   * arrive. No deadline unless `timeoutMs` is given; `signal` ends the call. */
  serverStreamExact<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    message: MessageShape<I>,
    body: Uint8Array,
    header: Headers,
    signal: AbortSignal | undefined,
    timeoutMs?: number,
  ): Promise<AsyncIterable<MessageShape<O>>>;
  close(): void;
}

function frame(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length, false);
  framed.set(message, 5);
  return framed;
}

/** The message bytes of a unary response body: exactly one uncompressed frame. */
function unframe(chunks: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(chunks);
  if (body.length < 5) throw new ConnectError("response body shorter than one gRPC frame", Code.Internal);
  const length = body.readUInt32BE(1);
  if (body[0] !== 0) throw new ConnectError("compressed response frame (compression is not accepted)", Code.Internal);
  if (body.length !== 5 + length) throw new ConnectError("unary response is not exactly one gRPC frame", Code.Internal);
  return new Uint8Array(body.subarray(5));
}

function exactBytesClient(inner: UniversalClientFn): UniversalClientFn {
  return async (request: UniversalClientRequest) => {
    const call = currentCall.getStore();
    if (call === undefined) return inner(request);
    const signed = frame(call.request);
    const response = await inner({
      ...request,
      body: (async function* () {
        yield signed;
      })(),
    });
    const received = response.body;
    return {
      ...response,
      body: (async function* () {
        for await (const chunk of received) {
          call.responseFrames?.push(chunk);
          yield chunk;
        }
      })(),
    };
  };
}

/**
 * TLS for the HTTP/2 connection (PEM strings or buffers). `ca`: the CA bundle that signed the network's server
 * certificate (default: Node's root certificates). `cert` and `key`: the partner's client certificate and its key,
 * for mutual TLS; the certificate's subject CN is the partner id, and the network refuses a call signed by a key
 * of another partner (PERMISSION_DENIED, CERTIFICATE_PARTNER_MISMATCH).
 */
export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** `target` as a base URL: "host:port" is http:// (plaintext) without TLS options and https:// with them. */
export function baseUrlFor(target: string, tls?: TlsOptions): string {
  if (target.includes("://")) return target;
  return `${tls ? "https" : "http"}://${target}`;
}

export function createExactTransport(baseUrl: string, options: { nodeOptions?: object; tls?: TlsOptions } = {}): ExactTransport {
  if (options.tls && baseUrl.startsWith("http://")) {
    throw new Error(`TLS options given for a plaintext URL: ${baseUrl}`);
  }
  if (options.tls && (options.tls.cert === undefined) !== (options.tls.key === undefined)) {
    throw new Error("give the client certificate (cert) and its key (key) together");
  }
  const sessions = new Http2SessionManager(baseUrl, {}, { ...options.tls, ...options.nodeOptions });
  const transport: Transport = createTransport({
    httpClient: exactBytesClient(createNodeHttpClient({ httpVersion: "2", sessionProvider: () => sessions })),
    baseUrl,
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_SEND_BYTES,
  });
  return {
    async unaryExact(method, message, body, header, timeoutMs) {
      if (body.length > MAX_SEND_BYTES) {
        throw new ConnectError(`request of ${body.length} bytes exceeds ${MAX_SEND_BYTES}`, Code.InvalidArgument);
      }
      const frames: Uint8Array[] = [];
      const response = await currentCall.run({ request: body, responseFrames: frames }, () =>
        transport.unary(method, undefined, timeoutMs, header, message),
      );
      return {
        message: response.message,
        responseBytes: unframe(frames),
        header: response.header,
        trailer: response.trailer,
      };
    },
    async serverStreamExact(method, message, body, header, signal, timeoutMs) {
      const call: CallBytes = { request: body, responseFrames: undefined };
      const response = await currentCall.run(call, () =>
        transport.stream(method, signal, timeoutMs, header, (async function* () {
          yield message;
        })()),
      );
      return response.message;
    },
    close() {
      sessions.abort();
    },
  };
}
