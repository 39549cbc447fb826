/**
 * Every human text of the HTML and XLSX reports, in English and Indonesian. Machine keys (status values, column
 * names, `data-*` attributes) never change with the language; only what people read does. Both languages are
 * complete: `ReportTexts` has no optional member, so a text missing in one language does not compile.
 */
import type { ReportStatus } from './status.js';
import type { StatusGroup } from './status.js';

import { REPORT_LANGS, type ReportLang } from './formats.js';

/** The languages a report can speak (`--lang`, `report.lang` in the campaign), defined with the formats. */
export { REPORT_LANGS, type ReportLang };

/** Short units for durations such as `1h 02m` (each with its leading space, if any). */
export interface DurationUnits {
  day: string;
  hour: string;
  minute: string;
  second: string;
}

/** The texts of one language. Functions take values already formatted for that language. */
export interface ReportTexts {
  /** BCP 47 tag of the page (`<html lang>`), and the locale numbers and month names are written in. */
  locale: string;
  units: DurationUnits;
  /** Display name of each documented status (an API status this tool does not know is shown as the API wrote it). */
  statusNames: Record<ReportStatus, string>;
  /** What each documented status means (glossary, summary sheet). */
  statusMeanings: Record<ReportStatus, string>;
  /** Meaning shown for an API status this tool does not know. */
  otherStatusMeaning: string;
  /** Names of the status groups (cards, chart legend). */
  groupNames: Record<StatusGroup, string>;
  /** The reason `summariseRows` uses for rows past its reason limit. */
  otherReasons: string;

  // The HTML page.
  titleSuffix: string;
  deliveryReportCampaign: string;
  sent: string;
  planned: string;
  statusesChecked: string;
  generated: string;
  timesIn: string;
  notSentYet: string;
  never: string;
  summaryLabel: string;
  cardRowsNote: (accepted: string) => string;
  cardDeliveredNote: (percent: string) => string;
  nothingAcceptedYet: string;
  none: string;
  cardInProgressNote: string;
  sendRate: string;
  perMinute: (rate: string) => string;
  nothingSentYet: string;
  over: (duration: string) => string;
  statusBreakdown: string;
  statusBreakdownOf: (rows: string) => string;
  donutCenter: string;
  status: string;
  rows: string;
  share: string;
  noRows: string;
  sendsOverTime: string;
  firstAttemptsPer: (bucket: string) => string;
  nothingSentYetLong: string;
  barTitle: (from: string, to: string, total: string, delivered: string, failed: string, inProgress: string) => string;
  topFailureReasons: string;
  noFailures: string;
  /** Issue 12: the per-device section and why the last run stopped (health breaker, no device left). */
  byDevice: string;
  device: string;
  sentThrough: string;
  failedShare: string;
  stoppedByHealth: string;
  stoppedNoDevice: string;
  reason: string;
  shareOfRows: string;
  exampleLine: string;
  notDelivered: string;
  ofRows: (shown: string, total: string) => string;
  everyRowDelivered: string;
  searchPlaceholder: string;
  searchLabel: string;
  filterLabel: string;
  allStatuses: string;
  shown: string;
  line: string;
  number: string;
  error: string;
  sentAt: string;
  capped: (listed: string, total: string) => string;
  glossaryHeading: string;
  footer: (schema: number) => string;

  // The XLSX workbook.
  summarySheet: string;
  rowsSheet: string;
  campaign: string;
  campaignId: string;
  timeZone: string;
  firstSend: string;
  lastSend: string;
  accepted: string;
  deliveryRate: string;
  sendRatePerMinute: string;
  statusCode: string;
  meaning: string;
  errorCode: string;
  rowsSheetNote: string;

  // Variants (issue 11), HTML page.
  variantsHeading: string;
  /** Under the heading: what the shares are of. */
  variantsNote: string;
  variant: string;
  variantRecipients: string;
  variantSent: string;
  variantDelivered: string;
  variantFailed: string;
  mediaFile: string;
}

const EN: ReportTexts = {
  locale: 'en',
  units: { day: 'd', hour: 'h', minute: 'm', second: 's' },
  statusNames: {
    delivered: 'delivered',
    read: 'read',
    sent: 'sent',
    queued: 'queued',
    pending: 'pending',
    failed: 'failed',
    rejected: 'rejected',
    failed_to_send: 'failed to send',
    unknown: 'unknown',
    invalid: 'invalid',
    duplicate: 'duplicate',
    suppressed: 'suppressed',
    skipped: 'skipped',
    expired: 'expired',
  },
  statusMeanings: {
    pending: 'Not sent yet (planned, or in flight when the report was made).',
    queued: 'Accepted by RK Connect, waiting in its queue.',
    sent: 'Sent by RK Connect to WhatsApp, not delivered yet.',
    delivered: 'Delivered to the recipient’s phone.',
    read: 'Delivered and read by the recipient.',
    failed: 'RK Connect could not deliver it (reason in error_message).',
    rejected: 'RK Connect refused the message for good (e.g. a number or device it does not accept).',
    failed_to_send: 'Every attempt failed (server errors or timeouts); the last error is in error_message.',
    unknown: 'Its fate is unknown: a crash left it in flight too long ago to resend safely, or RK Connect no longer knows its id.',
    invalid: 'Never sent: the row is unusable (bad phone number, missing template variable).',
    duplicate: 'Never sent: the same number appears on an earlier line.',
    suppressed: 'Never sent: the number is on a suppression (opt-out) list.',
    skipped: 'Never sent: the row was removed from the recipient file before it was sent (replan).',
    expired: 'Never sent: the campaign deadline passed first.',
  },
  otherStatusMeaning: 'Reported by RK Connect as is (not a documented status).',
  groupNames: { delivered: 'Delivered', failed: 'Failed', in_progress: 'In progress', not_sent: 'Not sent' },
  otherReasons: 'other reasons',

  titleSuffix: 'delivery report',
  deliveryReportCampaign: 'Delivery report · campaign',
  sent: 'Sent',
  planned: 'Planned',
  statusesChecked: 'statuses checked',
  generated: 'Generated',
  timesIn: 'times in',
  notSentYet: 'not sent yet',
  never: 'never',
  summaryLabel: 'Summary',
  cardRowsNote: (accepted) => `${accepted} accepted by RK Connect`,
  cardDeliveredNote: (percent) => `${percent} of accepted`,
  nothingAcceptedYet: 'nothing accepted yet',
  none: 'none',
  cardInProgressNote: 'pending, queued or sent',
  sendRate: 'Send rate',
  perMinute: (rate) => `${rate}/min`,
  nothingSentYet: 'nothing sent yet',
  over: (duration) => `over ${duration}`,
  statusBreakdown: 'Status breakdown',
  statusBreakdownOf: (rows) => `Status breakdown of ${rows} rows`,
  donutCenter: 'rows',
  status: 'Status',
  rows: 'Rows',
  share: 'Share',
  noRows: 'No rows.',
  sendsOverTime: 'Sends over time',
  firstAttemptsPer: (bucket) => `(first attempts per ${bucket})`,
  nothingSentYetLong: 'Nothing has been sent yet.',
  barTitle: (from, to, total, delivered, failed, inProgress) =>
    `${from} – ${to}: ${total} sent (${delivered} delivered, ${failed} failed, ${inProgress} in progress)`,
  topFailureReasons: 'Top failure reasons',
  noFailures: 'No failures: every row was delivered, is on its way, or is waiting to be sent.',
  byDevice: 'Sends and outcomes per device',
  device: 'Device',
  sentThrough: 'Sent',
  failedShare: 'Failed share',
  stoppedByHealth:
    'The last run was stopped by the delivery-health breaker: too many recent messages failed. Check the devices and the numbers that failed, then run again (or with --ignore-health).',
  stoppedNoDevice: 'The last run stopped because no device was left to send through (unknown, disconnected or restricted). Fix the devices, then run again.',
  reason: 'Reason',
  shareOfRows: 'Share of rows',
  exampleLine: 'e.g. line',
  notDelivered: 'Not delivered',
  ofRows: (shown, total) => `(${shown} of ${total} rows)`,
  everyRowDelivered: 'Every row was delivered.',
  searchPlaceholder: 'Search number, name, error…',
  searchLabel: 'Search rows',
  filterLabel: 'Filter by status',
  allStatuses: 'All statuses',
  shown: 'shown',
  line: 'Line',
  number: 'Number',
  error: 'Error',
  sentAt: 'Sent at',
  capped: (listed, total) => `Showing the first ${listed} of ${total} rows that were not delivered. The CSV report lists every row:`,
  glossaryHeading: 'What the statuses mean',
  footer: (schema) => `report schema ${schema} · one row per line of the recipient file, in file order`,

  summarySheet: 'Summary',
  rowsSheet: 'Rows',
  campaign: 'Campaign',
  campaignId: 'Campaign id',
  timeZone: 'Time zone',
  firstSend: 'First send',
  lastSend: 'Last send',
  accepted: 'Accepted by RK Connect',
  deliveryRate: 'Delivery rate (of accepted)',
  sendRatePerMinute: 'Send rate per minute',
  statusCode: 'Status value',
  meaning: 'Meaning',
  errorCode: 'Error code',
  rowsSheetNote:
    'The Rows sheet has one row per line of the recipient file, in file order, with the columns and status values of the CSV report.',
  variantsHeading: 'Variants side by side',
  variantsNote: 'Recipients: share of all recipients that got a variant. Sent, delivered, failed: share of that variant\'s recipients.',
  variant: 'Variant',
  variantRecipients: 'Recipients',
  variantSent: 'Sent',
  variantDelivered: 'Delivered',
  variantFailed: 'Failed',
  mediaFile: 'Attached file',
};

const ID: ReportTexts = {
  locale: 'id',
  units: { day: ' hr', hour: ' j', minute: ' mnt', second: ' dtk' },
  statusNames: {
    delivered: 'terkirim',
    read: 'dibaca',
    sent: 'dikirim',
    queued: 'dalam antrean',
    pending: 'menunggu',
    failed: 'gagal',
    rejected: 'ditolak',
    failed_to_send: 'gagal dikirim',
    unknown: 'tidak diketahui',
    invalid: 'tidak valid',
    duplicate: 'duplikat',
    suppressed: 'dikecualikan',
    skipped: 'dilewati',
    expired: 'kedaluwarsa',
  },
  statusMeanings: {
    pending: 'Belum dikirim (direncanakan, atau sedang dikirim saat laporan dibuat).',
    queued: 'Diterima RK Connect, menunggu di antreannya.',
    sent: 'Sudah dikirim RK Connect ke WhatsApp, belum sampai ke penerima.',
    delivered: 'Sampai di ponsel penerima.',
    read: 'Sampai dan sudah dibaca penerima.',
    failed: 'RK Connect tidak dapat mengantarkannya (alasannya di error_message).',
    rejected: 'RK Connect menolak pesan ini secara permanen (mis. nomor atau perangkat yang tidak diterimanya).',
    failed_to_send: 'Semua percobaan gagal (galat server atau waktu habis); galat terakhir ada di error_message.',
    unknown:
      'Nasibnya tidak diketahui: program terhenti saat pesan ini sedang dikirim dan sudah terlalu lama untuk dikirim ulang dengan aman, atau RK Connect tidak lagi mengenal id-nya.',
    invalid: 'Tidak dikirim: baris tidak dapat dipakai (nomor telepon salah, variabel template kosong).',
    duplicate: 'Tidak dikirim: nomor yang sama ada di baris sebelumnya.',
    suppressed: 'Tidak dikirim: nomor ada di daftar pengecualian (berhenti berlangganan).',
    skipped: 'Tidak dikirim: baris dihapus dari file penerima sebelum sempat dikirim (rencana diperbarui).',
    expired: 'Tidak dikirim: batas waktu kampanye lewat lebih dulu.',
  },
  otherStatusMeaning: 'Dilaporkan RK Connect apa adanya (bukan status yang terdokumentasi).',
  groupNames: { delivered: 'Terkirim', failed: 'Gagal', in_progress: 'Dalam proses', not_sent: 'Tidak dikirim' },
  otherReasons: 'alasan lain',

  titleSuffix: 'laporan pengiriman',
  deliveryReportCampaign: 'Laporan pengiriman · kampanye',
  sent: 'Dikirim',
  planned: 'Direncanakan',
  statusesChecked: 'status diperiksa',
  generated: 'Dibuat',
  timesIn: 'zona waktu',
  notSentYet: 'belum dikirim',
  never: 'belum pernah',
  summaryLabel: 'Ringkasan',
  cardRowsNote: (accepted) => `${accepted} diterima RK Connect`,
  cardDeliveredNote: (percent) => `${percent} dari yang diterima`,
  nothingAcceptedYet: 'belum ada yang diterima',
  none: 'tidak ada',
  cardInProgressNote: 'menunggu, dalam antrean atau dikirim',
  sendRate: 'Laju kirim',
  perMinute: (rate) => `${rate}/mnt`,
  nothingSentYet: 'belum ada yang dikirim',
  over: (duration) => `selama ${duration}`,
  statusBreakdown: 'Rincian status',
  statusBreakdownOf: (rows) => `Rincian status dari ${rows} baris`,
  donutCenter: 'baris',
  status: 'Status',
  rows: 'Baris',
  share: 'Porsi',
  noRows: 'Tidak ada baris.',
  sendsOverTime: 'Pengiriman dari waktu ke waktu',
  firstAttemptsPer: (bucket) => `(percobaan pertama per ${bucket})`,
  nothingSentYetLong: 'Belum ada yang dikirim.',
  barTitle: (from, to, total, delivered, failed, inProgress) =>
    `${from} – ${to}: ${total} dikirim (${delivered} terkirim, ${failed} gagal, ${inProgress} dalam proses)`,
  topFailureReasons: 'Alasan kegagalan teratas',
  noFailures: 'Tidak ada kegagalan: setiap baris sudah terkirim, sedang dalam perjalanan, atau menunggu dikirim.',
  byDevice: 'Pengiriman dan hasil per perangkat',
  device: 'Perangkat',
  sentThrough: 'Dikirim',
  failedShare: 'Porsi gagal',
  stoppedByHealth:
    'Pengiriman terakhir dihentikan oleh pemutus kesehatan pengiriman: terlalu banyak pesan terbaru yang gagal. Periksa perangkat dan nomor yang gagal, lalu jalankan lagi (atau dengan --ignore-health).',
  stoppedNoDevice: 'Pengiriman terakhir berhenti karena tidak ada perangkat yang tersisa (tidak dikenal, terputus, atau dibatasi). Perbaiki perangkat, lalu jalankan lagi.',
  reason: 'Alasan',
  shareOfRows: 'Porsi dari semua baris',
  exampleLine: 'contoh baris',
  notDelivered: 'Tidak terkirim',
  ofRows: (shown, total) => `(${shown} dari ${total} baris)`,
  everyRowDelivered: 'Setiap baris sudah terkirim.',
  searchPlaceholder: 'Cari nomor, nama, galat…',
  searchLabel: 'Cari baris',
  filterLabel: 'Saring menurut status',
  allStatuses: 'Semua status',
  shown: 'ditampilkan',
  line: 'Baris',
  number: 'Nomor',
  error: 'Galat',
  sentAt: 'Waktu kirim',
  capped: (listed, total) => `Menampilkan ${listed} pertama dari ${total} baris yang tidak terkirim. Laporan CSV memuat setiap baris:`,
  glossaryHeading: 'Arti setiap status',
  footer: (schema) => `skema laporan ${schema} · satu baris per baris file penerima, sesuai urutan file`,

  summarySheet: 'Ringkasan',
  rowsSheet: 'Baris',
  campaign: 'Kampanye',
  campaignId: 'Id kampanye',
  timeZone: 'Zona waktu',
  firstSend: 'Kiriman pertama',
  lastSend: 'Kiriman terakhir',
  accepted: 'Diterima RK Connect',
  deliveryRate: 'Tingkat keterkiriman (dari yang diterima)',
  sendRatePerMinute: 'Laju kirim per menit',
  statusCode: 'Nilai status',
  meaning: 'Arti',
  errorCode: 'Kode galat',
  rowsSheetNote:
    'Lembar Baris memuat satu baris per baris file penerima, sesuai urutan file, dengan kolom dan nilai status yang sama seperti laporan CSV.',
  variantsHeading: 'Perbandingan varian',
  variantsNote: 'Penerima: porsi dari semua penerima yang mendapat varian. Dikirim, terkirim, gagal: porsi dari penerima varian itu.',
  variant: 'Varian',
  variantRecipients: 'Penerima',
  variantSent: 'Dikirim',
  variantDelivered: 'Terkirim',
  variantFailed: 'Gagal',
  mediaFile: 'Berkas lampiran',
};

const TEXTS: Record<ReportLang, ReportTexts> = { en: EN, id: ID };

/** The texts of a language. */
export function reportTexts(lang: ReportLang = 'en'): ReportTexts {
  return TEXTS[lang];
}

/** The report's language: the `--lang` flag, else the campaign's `report.lang`, else English. */
export function chooseReportLang(flag: ReportLang | undefined, campaign: ReportLang | undefined): ReportLang {
  return flag ?? campaign ?? 'en';
}

/** The display name of a status; an API status this tool does not know is shown as the API wrote it. */
export function statusName(texts: ReportTexts, status: string): string {
  return Object.hasOwn(texts.statusNames, status) ? texts.statusNames[status as ReportStatus] : status;
}

/** What a status means, in the report's language. */
export function statusMeaning(texts: ReportTexts, status: string): string {
  return Object.hasOwn(texts.statusMeanings, status) ? texts.statusMeanings[status as ReportStatus] : texts.otherStatusMeaning;
}

/** `1h 02m`, `3m 05s`, `12s` (Indonesian: `1 j 02 mnt`, `3 mnt 05 dtk`). */
export function humanDuration(ms: number, units: DurationUnits = EN.units): string {
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}${units.day} ${two(h)}${units.hour}`;
  if (h > 0) return `${h}${units.hour} ${two(m)}${units.minute}`;
  if (m > 0) return `${m}${units.minute} ${two(s % 60)}${units.second}`;
  return `${s}${units.second}`;
}

/** What each status means, in English (the docs' table). */
export const STATUS_MEANINGS: Record<ReportStatus, string> = EN.statusMeanings;
