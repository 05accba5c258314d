/**
 * CSV tables with a header row, parsed by csv-parse's sync API (RFC 4180
 * quoting; a UTF-8 byte-order mark skipped; `\n`, `\r\n` or `\r` line ends,
 * even mixed; blank lines skipped; cells trimmed), and their columns read as
 * numbers or strings.
 *
 * A cell that is empty or one of `NA`, `N/A`, `NaN`, `nan`, `null` is a
 * missing value: {@linkcode csvNumbers} gives NaN for it, or refuses it when
 * the column must be complete. Every error is a {@linkcode DataFileError}
 * naming the file, and the line and column where there is one.
 *
 * @module
 */
import { parse } from "csv-parse/sync";
import { DataFileError, readDataFile } from "./file_error.ts";

/** A parsed CSV file. */
export interface CsvTable {
  /** The file, as named by the caller (for messages). */
  readonly file: string;
  /** Column names from the header row, in order. */
  readonly columns: readonly string[];
  /** The data rows' cells, trimmed; every row has one cell per column. */
  readonly rows: readonly (readonly string[])[];
  /** The file line each data row starts on (the header is line 1 when it is the first line). */
  readonly lines: Int32Array;
}

/** Options of {@linkcode parseCsv} and {@linkcode readCsv}. */
export interface CsvOptions {
  /** Field delimiter, one character. @default "," */
  readonly delimiter?: string;
}

/** Cells that stand for a missing value. */
const MISSING = new Set(["", "NA", "N/A", "NaN", "nan", "null"]);

/** Whether a cell stands for a missing value (empty, `NA`, `N/A`, `NaN`, `nan` or `null`). */
export function isMissingCell(cell: string): boolean {
  return MISSING.has(cell);
}

/**
 * Parses CSV text whose first record is the header.
 *
 * @param file Names the text in messages.
 * @throws {DataFileError} `syntax` for unbalanced quotes, rows of another
 *   length than the header, an empty or duplicate column name, or no header.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./csv.ts";
 * const t = parseCsv("x,label\n1.5,a\n2,b\n", "demo.csv");
 * if (t.columns.join() !== "x,label" || t.rows[1]![1] !== "b" || t.lines[0] !== 2) throw new Error("parsed wrong");
 * ```
 */
export function parseCsv(text: string, file: string, options: CsvOptions = {}): CsvTable {
  const { delimiter = "," } = options;
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter,
      record_delimiter: ["\r\n", "\n", "\r"],
      bom: true,
      trim: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as typeof records;
  } catch (e) {
    const message = (e as Error).message.replace(
      /^Invalid Record Length: /,
      "A row has another length than the header: ",
    );
    throw new DataFileError(file, "syntax", `not valid CSV: ${message}`, { cause: e });
  }
  const [header, ...body] = records;
  if (header === undefined) throw new DataFileError(file, "syntax", "is empty: a CSV file needs a header row");
  const columns = header.record;
  const seen = new Set<string>();
  columns.forEach((name, i) => {
    if (name === "") throw new DataFileError(file, "syntax", `header: column ${i + 1} has no name`);
    if (seen.has(name)) throw new DataFileError(file, "syntax", `header: column "${name}" appears twice`);
    seen.add(name);
  });
  return {
    file,
    columns,
    rows: body.map((r) => r.record),
    lines: startLines(records).subarray(1),
  };
}

/**
 * The line each record starts on. csv-parse's `info.lines` is the line a record ends on, and inside quoted cells it
 * counts every \r and every \n as a line (csv-parse 7.0.3), so a quoted \r\n counts twice: a record starts as many
 * line ends before its last line as its cells hold \r and \n characters, less the surplus of the \r\n pairs quoted
 * in the records before it.
 */
function startLines(records: readonly { record: string[]; info: { lines: number } }[]): Int32Array {
  let surplus = 0;
  return Int32Array.from(records, ({ record, info }) => {
    let breaks = 0, pairs = 0;
    for (const cell of record) {
      breaks += cell.match(/[\r\n]/g)?.length ?? 0;
      pairs += cell.match(/\r\n/g)?.length ?? 0;
    }
    const start = info.lines - breaks - surplus;
    surplus += pairs;
    return start;
  });
}

/**
 * Reads and parses a CSV file; see {@linkcode parseCsv}.
 *
 * @throws {DataFileError} `unreadable` when the file cannot be read, and as
 *   {@linkcode parseCsv} does.
 */
export function readCsv(path: string, options: CsvOptions = {}): CsvTable {
  const bytes = readDataFile(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new DataFileError(path, "syntax", "is not UTF-8 text", { cause: e });
  }
  return parseCsv(text, path, options);
}

/**
 * The index of column `name`.
 *
 * @throws {DataFileError} `content` naming the columns the file has.
 */
export function csvColumn(table: CsvTable, name: string): number {
  const i = table.columns.indexOf(name);
  if (i < 0) {
    throw new DataFileError(
      table.file,
      "content",
      `no column "${name}" (columns: ${table.columns.join(", ")})`,
    );
  }
  return i;
}

/**
 * Column `name` as numbers. Missing cells (see {@linkcode isMissingCell})
 * are NaN when `allowMissing`, and an error otherwise.
 *
 * @throws {DataFileError} `content` for a missing column, a cell that is not a
 *   number (naming its line), or a missing value where none is allowed.
 *
 * @example
 * ```ts
 * import { csvNumbers, parseCsv } from "./csv.ts";
 * const t = parseCsv("t,x\n0,1\n0.5,NA\n", "s.csv");
 * const x = csvNumbers(t, "x", { allowMissing: true });
 * if (x[0] !== 1 || !Number.isNaN(x[1])) throw new Error("wrong numbers");
 * ```
 */
export function csvNumbers(table: CsvTable, name: string, options: { allowMissing?: boolean } = {}): Float64Array {
  const c = csvColumn(table, name);
  const out = new Float64Array(table.rows.length);
  table.rows.forEach((row, r) => {
    const cell = row[c]!;
    if (isMissingCell(cell)) {
      if (!options.allowMissing) {
        throw new DataFileError(table.file, "content", `line ${table.lines[r]}: column "${name}" has no value`);
      }
      out[r] = NaN;
      return;
    }
    const v = Number(cell);
    if (!Number.isFinite(v)) {
      throw new DataFileError(
        table.file,
        "content",
        `line ${table.lines[r]}: column "${name}" holds ${JSON.stringify(cell)}, not a number`,
      );
    }
    out[r] = v;
  });
  return out;
}

/**
 * Column `name` as strings (class labels, series ids).
 *
 * @throws {DataFileError} `content` for a missing column or an empty cell.
 */
export function csvStrings(table: CsvTable, name: string): string[] {
  const c = csvColumn(table, name);
  return table.rows.map((row, r) => {
    const cell = row[c]!;
    // NA, NaN, null… are missing too: as labels they would become a class of their own.
    if (isMissingCell(cell)) {
      const shown = cell === "" ? "has no value" : `has the missing value "${cell}"`;
      throw new DataFileError(table.file, "content", `line ${table.lines[r]}: column "${name}" ${shown}`);
    }
    return cell;
  });
}
