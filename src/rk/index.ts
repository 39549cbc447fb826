/** The RK Connect client and everything a stage needs to talk to the API. */
export { RkClient, type RkClientOptions } from './client.js';
export {
  RkError,
  isRkError,
  errorFromResponse,
  errorFromTransport,
  errorFromUnexpectedAnswer,
  parseRetryAfter,
  type RkErrorKind,
  type RkErrorInit,
  type ErrorBody,
} from './errors.js';
export { loadMedia, MediaError, type MediaType } from './media.js';
export { buildMultipart, type MultipartBody, type MultipartField, type MultipartFilePart } from './multipart.js';
export { computeSignature, signatureMatches, unixSeconds, HEADER, DEFAULT_BASE_URL } from './signing.js';
export * from './types.js';
