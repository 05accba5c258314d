import { assert, assertEquals, assertThrows } from "../util/testing.ts";
import { csvColumn, csvNumbers, csvStrings, parseCsv, readCsv } from "./csv.ts";
import { DataFileError } from "./file_error.ts";

const fixtures = new URL("../../tests/fixtures/data/", import.meta.url).pathname;

Deno.test("readCsv() reads the fixture's quoted header, rows and line numbers", () => {
  const t = readCsv(`${fixtures}classes.csv`);
  assertEquals(t.columns, ["a", "b", "species"]);
  assertEquals(t.rows.length, 45);
  assertEquals(t.rows[0], ["2.2825", "-0.4190", "setosa"]);
  assertEquals(t.lines[0], 2);
  assertEquals(new Set(csvStrings(t, "species")), new Set(["setosa", "versicolor", "virginica"]));
  assertEquals(csvNumbers(t, "b")[0], -0.419);
});

Deno.test("csvNumbers() gives NaN for empty and NA cells only where missing values are allowed", () => {
  const t = parseCsv("t,x\r\n0,1\n\n0.5,NA\n1,\n", "s.csv");
  const x = csvNumbers(t, "x", { allowMissing: true });
  assertEquals([x[0], Number.isNaN(x[1]), Number.isNaN(x[2])], [1, true, true]);
  assertEquals(Array.from(t.lines), [2, 4, 5], "blank lines are skipped but counted");
  const e = assertThrows(() => csvNumbers(t, "x"), DataFileError) as DataFileError;
  assertEquals(e.message, 's.csv: line 4: column "x" has no value');
});

Deno.test("parseCsv() gives the line a record starts on when quoted cells span lines, with any line ends", () => {
  // Lines: 1 header, 2–3 a record, 4 blank, 5, 6–9 a record whose cell holds \r, \r and \n, 10–11, 12.
  const text = 'x,label\r\n1,"a\r\nb"\r\n\r\n2,c\r\n3,"d\r\re\nf"\r\n4, "g\nh" \r\n5,i';
  const t = parseCsv(text, "m.csv");
  assertEquals(t.rows.map((r) => r[0]), ["1", "2", "3", "4", "5"]);
  assertEquals(Array.from(t.lines), [2, 5, 6, 10, 12]);
  // A header that spans lines moves the rest too.
  assertEquals(Array.from(parseCsv('"x\ny",z\n1,"2\n3"\n4,5\n', "h.csv").lines), [3, 5]);
  assertThrows(() => csvNumbers(t, "label"), DataFileError, 'm.csv: line 2: column "label" holds "a\\r\\nb"');
});

Deno.test("csvNumbers() and csvColumn() name the file, line and columns of what is wrong", () => {
  const t = parseCsv("a,b\n1,2\n3,four\n", "d.csv");
  assertThrows(() => csvNumbers(t, "b"), DataFileError, 'd.csv: line 3: column "b" holds "four", not a number');
  const e = assertThrows(() => csvColumn(t, "c"), DataFileError) as DataFileError;
  assertEquals([e.problem, e.message], ["content", 'd.csv: no column "c" (columns: a, b)']);
});

Deno.test("parseCsv() refuses ragged rows, open quotes, empty files and duplicate or empty column names", () => {
  assertThrows(() => parseCsv("a,b\n1,2,3\n", "r.csv"), DataFileError, "another length than the header");
  assertThrows(() => parseCsv('a,b\n"1,2\n', "q.csv"), DataFileError, "Quote Not Closed");
  assertThrows(() => parseCsv("", "e.csv"), DataFileError, "e.csv: is empty");
  assertThrows(() => parseCsv("a,a\n1,2\n", "d.csv"), DataFileError, 'column "a" appears twice');
  assertThrows(() => parseCsv("a,\n1,2\n", "n.csv"), DataFileError, "column 2 has no name");
  assertEquals(parseCsv("x;y\n1;2\n", "s.csv", { delimiter: ";" }).rows, [["1", "2"]]);
});

Deno.test("readCsv() says a missing file was not found", () => {
  const e = assertThrows(() => readCsv(`${fixtures}nope.csv`), DataFileError) as DataFileError;
  assert(e.problem === "unreadable" && e.message === `${fixtures}nope.csv: file not found`, e.message);
});

Deno.test("csvStrings() refuses missing-value cells (NA, NaN, null), which as labels would make a class", () => {
  const t = parseCsv("f,label\n1,a\n2,NA\n3,b\n", "l.csv");
  assertThrows(() => csvStrings(t, "label"), DataFileError, 'l.csv: line 3: column "label" has the missing value "NA"');
});
