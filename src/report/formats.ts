/** The report formats (a module of its own: `rk-broadcast report --help` lists them without loading the writers). */
export const REPORT_FORMATS = ['csv', 'json', 'html'] as const;
/** One of the report formats. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];
