import { fileTypeFromBuffer } from 'file-type';

/** The file kinds the API documents for `media`: jpeg, png, webp, pdf, doc, docx, mp4, mp3, ogg. */
export type AllowedMediaKind = 'jpeg' | 'png' | 'webp' | 'pdf' | 'doc' | 'docx' | 'mp4' | 'mp3' | 'ogg';

interface KindInfo {
  /** MIME type recorded for the message. */
  mime: string;
  /** Declared part content-types that agree with this kind. */
  declaredAliases: readonly string[];
}

const KINDS: Record<AllowedMediaKind, KindInfo> = {
  jpeg: { mime: 'image/jpeg', declaredAliases: ['image/jpeg', 'image/jpg', 'image/pjpeg'] },
  png: { mime: 'image/png', declaredAliases: ['image/png'] },
  webp: { mime: 'image/webp', declaredAliases: ['image/webp'] },
  pdf: { mime: 'application/pdf', declaredAliases: ['application/pdf', 'application/x-pdf'] },
  doc: { mime: 'application/msword', declaredAliases: ['application/msword', 'application/x-cfb'] },
  docx: {
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    declaredAliases: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/zip'],
  },
  mp4: { mime: 'video/mp4', declaredAliases: ['video/mp4', 'application/mp4'] },
  mp3: { mime: 'audio/mpeg', declaredAliases: ['audio/mpeg', 'audio/mp3', 'audio/mpeg3'] },
  ogg: { mime: 'audio/ogg', declaredAliases: ['audio/ogg', 'application/ogg', 'video/ogg', 'audio/opus'] },
};

/** `file-type` extensions mapped onto the documented kinds. */
const KIND_BY_SNIFFED_EXT: Readonly<Record<string, AllowedMediaKind>> = {
  jpg: 'jpeg',
  png: 'png',
  webp: 'webp',
  pdf: 'pdf',
  // Legacy .doc files are OLE compound files; file-type reports the container, not the application.
  cfb: 'doc',
  docx: 'docx',
  mp4: 'mp4',
  mp3: 'mp3',
  ogg: 'ogg',
  oga: 'ogg',
  opus: 'ogg',
};

/** Declared types that claim nothing about the content (browsers and curl send these for unknown files). */
const UNSPECIFIC_DECLARED_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

/** Outcome of checking an uploaded file. */
export type MediaCheck =
  | { ok: true; kind: AllowedMediaKind; contentType: string }
  | { ok: false; reason: string };

/**
 * Decides whether an uploaded file is one of the documented types: by its content (magic numbers), and, when
 * the part declares a specific content-type, that declaration must agree with the content.
 */
export async function checkMedia(bytes: Uint8Array, declaredContentType: string): Promise<MediaCheck> {
  if (bytes.byteLength === 0) return { ok: false, reason: 'The media file is empty.' };
  const sniffed = await fileTypeFromBuffer(bytes);
  const kind = sniffed ? KIND_BY_SNIFFED_EXT[sniffed.ext] : undefined;
  if (kind === undefined) {
    const found = sniffed ? `${sniffed.ext} (${sniffed.mime})` : 'an unrecognised format';
    return {
      ok: false,
      reason: `The media field must be a file of type: jpeg, png, webp, pdf, doc, docx, mp4, mp3, ogg; its content is ${found}.`,
    };
  }
  const declared = (declaredContentType.split(';')[0] ?? '').trim().toLowerCase();
  const info = KINDS[kind];
  if (!UNSPECIFIC_DECLARED_TYPES.has(declared) && !info.declaredAliases.includes(declared)) {
    return {
      ok: false,
      reason: `The media field declares content-type ${declared} but its content is ${kind} (${info.mime}).`,
    };
  }
  return { ok: true, kind, contentType: info.mime };
}
