/** Message types the API accepts. */
export const MESSAGE_TYPES = ['text', 'image', 'document', 'video', 'audio'] as const;
/** One of the API's message types. */
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** A media file already read and checked by content (see `loadMedia`), ready to be sent many times. */
export interface MediaFile {
  /** File name sent in the multipart part (no directories). */
  filename: string;
  /** MIME type detected from the file's content. */
  contentType: string;
  /** The file's bytes. */
  data: Uint8Array;
}

/** What `RkApi.send` needs for one message. */
export interface SendRequest {
  /** Device code registered in the project (`X-DEVICE-CODE`), e.g. `RK-XXXX`. */
  device: string;
  /** Recipient in the API's form: country code and digits only, e.g. `6281234567890`. */
  recipient: string;
  /** @default 'text' */
  type?: MessageType;
  /** Text (required for `text`) or caption for media. */
  message?: string;
  /** Required when `type` is not `text`. */
  media?: MediaFile;
  /** Metadata stored by the API with the message. */
  payload?: Record<string, unknown>;
  /** Idempotency key (`X-REQUEST-ID`): a resend with the same id returns the same UUID. */
  requestId?: string;
}

/** The API accepted the message. */
export interface SendAccepted {
  /** Message UUID. */
  id: string;
  /** Usually `queued`. */
  status: string;
  device: string;
  /** `meta.server_id` of the envelope, when present. */
  serverId?: string;
}

/** The documented shape of `GET /status/{uuid}`. */
export interface MessageStatus {
  id: string;
  /** `queued`, `sent`, `delivered`, `read`, `failed`, or anything else the API says (kept verbatim). */
  status: string;
  recipient: string;
  deviceCode: string;
  createdAt: string | null;
  deliveredAt: string | null;
  failedAt: string | null;
  errorMessage: string | null;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the request; the promise rejects with a `network` RkError whose `aborted` is true. */
  signal?: AbortSignal;
}

/**
 * The port through which every stage talks to RK Connect. The real implementation is `RkClient`;
 * stages never see HTTP. Failures reject with an `RkError` (see `errors.ts`).
 */
export interface RkApi {
  send(request: SendRequest, options?: CallOptions): Promise<SendAccepted>;
  status(uuid: string, options?: CallOptions): Promise<MessageStatus>;
}
