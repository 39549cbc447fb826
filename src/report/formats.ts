/** The report formats (a module of its own: `rk-broadcast report --help` lists them without loading the writers). */
export const REPORT_FORMATS = ['csv', 'json', 'html', 'xlsx'] as const;
/** One of the report formats. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The languages of the HTML and XLSX reports (here for the same reason: `--help` lists them). */
export const REPORT_LANGS = ['en', 'id'] as const;
/** One of the report languages. */
export type ReportLang = (typeof REPORT_LANGS)[number];
