/**
 * Butcher tableaux of explicit Runge–Kutta methods.
 *
 * A tableau is plain data (`c`, `a`, `b`, `bError`, `order`) that checks its
 * own consistency when defined: rows of `a` sum to `c`, Σb = 1, ΣbError = 0,
 * and the method is explicit. It derives `stages` and `fsal` (first same as
 * last: the last stage is evaluated at the step's solution, so it is the next
 * step's first stage for free). The stepping code ({@linkcode rkStep} in
 * rk.ts) exists once for all of them.
 *
 * Coefficients are copied from the papers as given by torchdiffeq and diffrax
 * (Dormand & Prince 1980; Tsitouras 2011; Bogacki & Shampine 1989; Prince &
 * Dormand 1981 RK8(7)13M).
 *
 * Why one file: the tableaux are data, mostly coefficients, checked by one defineTableau().
 *
 * @module
 */

/** An explicit Runge–Kutta method, validated by {@linkcode defineTableau}. */
export interface ButcherTableau {
  /** Short name, e.g. "dopri5". */
  readonly name: string;
  /** Stage times as fractions of the step, c[0] = 0. */
  readonly c: readonly number[];
  /** Lower-triangular rows: a[i] holds the i weights of stages 0…i−1 for stage i (a[0] is empty). */
  readonly a: readonly (readonly number[])[];
  /** Solution weights, one per stage, Σb = 1. */
  readonly b: readonly number[];
  /** b − b̂ (solution minus embedded weights), ΣbError = 0; undefined for fixed-step methods. */
  readonly bError: readonly number[] | undefined;
  /** Order of the solution y1. */
  readonly order: number;
  /** Order of the embedded solution, if any. */
  readonly errorOrder: number | undefined;
  /** Number of stages (f evaluations per step, counting the first). */
  readonly stages: number;
  /** First same as last: a[last] = b and c[last] = 1, so the last stage is f(t1, y1). */
  readonly fsal: boolean;
}

/** What {@linkcode defineTableau} takes: a tableau without the derived fields. */
export interface TableauSpec {
  /** Short name, e.g. "dopri5". */
  readonly name: string;
  /** Stage times as fractions of the step. */
  readonly c: readonly number[];
  /** Rows of the lower-triangular matrix; row i may be shorter than i (missing entries are zero). */
  readonly a: readonly (readonly number[])[];
  /** Solution weights. */
  readonly b: readonly number[];
  /** b − b̂ for an embedded error estimate; omit for fixed-step methods. */
  readonly bError?: readonly number[];
  /** Order of the solution. */
  readonly order: number;
  /** Order of the embedded solution. @default order − 1 when bError is given */
  readonly errorOrder?: number;
  /** Absolute tolerance of the consistency checks. @default 1e-12 */
  readonly tolerance?: number;
}

/**
 * Validates a tableau and derives `stages` and `fsal`.
 *
 * @throws {RangeError} when lengths disagree, the method is implicit, a row of
 * `a` does not sum to its `c`, Σb ≠ 1 or ΣbError ≠ 0 (naming the tableau,
 * field, index and value).
 *
 * @example Heun's method
 * ```ts
 * import { defineTableau } from "./tableau.ts";
 * const heun = defineTableau({ name: "heun", c: [0, 1], a: [[], [1]], b: [0.5, 0.5], order: 2 });
 * if (heun.stages !== 2 || heun.fsal) throw new Error("unexpected");
 * ```
 */
export function defineTableau(spec: TableauSpec): ButcherTableau {
  const { name, c, b, bError, order } = spec;
  const tol = spec.tolerance ?? 1e-12;
  const s = c.length;
  const where = `Tableau "${name}"`;
  if (s < 1) throw new RangeError(`${where}: c must have at least one stage, got length 0`);
  if (spec.a.length !== s) throw new RangeError(`${where}: a has ${spec.a.length} rows but c has ${s} stages`);
  if (b.length !== s) throw new RangeError(`${where}: b has ${b.length} weights but c has ${s} stages`);
  if (bError !== undefined && bError.length !== s) {
    throw new RangeError(`${where}: bError has ${bError.length} weights but c has ${s} stages`);
  }
  if (!Number.isInteger(order) || order < 1) {
    throw new RangeError(`${where}: order must be a positive integer, got ${order}`);
  }
  for (const [field, values] of [["c", c], ["b", b], ["bError", bError ?? []]] as const) {
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw new RangeError(`${where}: ${field}[${i}] must be finite, got ${v}`);
    });
  }
  if (c[0] !== 0) throw new RangeError(`${where}: c[0] must be 0 for an explicit method, got ${c[0]}`);
  const a: number[][] = [];
  for (let i = 0; i < s; i++) {
    const row = spec.a[i]!;
    if (row.length > i) {
      const bad = row.slice(i).findIndex((v) => v !== 0);
      if (bad >= 0) {
        throw new RangeError(
          `${where}: a[${i}][${i + bad}] = ${
            row[i + bad]
          } is on or above the diagonal; only explicit methods are supported`,
        );
      }
    }
    const full = Array.from({ length: i }, (_, j) => row[j] ?? 0);
    full.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new RangeError(`${where}: a[${i}][${j}] must be finite, got ${v}`);
    });
    const sum = full.reduce((x, y) => x + y, 0);
    if (Math.abs(sum - c[i]!) > tol) {
      throw new RangeError(`${where}: row a[${i}] sums to ${sum} but c[${i}] = ${c[i]}`);
    }
    a.push(full);
  }
  const sumB = b.reduce((x, y) => x + y, 0);
  if (Math.abs(sumB - 1) > tol) throw new RangeError(`${where}: the weights b sum to ${sumB}, not 1`);
  if (bError !== undefined) {
    const sumE = bError.reduce((x, y) => x + y, 0);
    if (Math.abs(sumE) > tol) throw new RangeError(`${where}: the weights bError sum to ${sumE}, not 0`);
  }
  const errorOrder = spec.errorOrder ?? (bError !== undefined ? order - 1 : undefined);
  if (errorOrder !== undefined && bError === undefined) {
    throw new RangeError(`${where}: errorOrder ${errorOrder} is given without bError`);
  }
  const last = a[s - 1]!;
  const fsal = s > 1 && c[s - 1] === 1 && b[s - 1] === 0 && last.every((v, j) => v === b[j]);
  return Object.freeze({
    name,
    c: Object.freeze([...c]),
    a: Object.freeze(a.map((row) => Object.freeze(row))),
    b: Object.freeze([...b]),
    bError: bError === undefined ? undefined : Object.freeze([...bError]),
    order,
    errorOrder,
    stages: s,
    fsal,
  });
}

/** Explicit Euler: order 1, one stage. */
export const EULER_TABLEAU: ButcherTableau = defineTableau({ name: "euler", c: [0], a: [[]], b: [1], order: 1 });

/** Explicit midpoint: order 2, two stages. */
export const MIDPOINT_TABLEAU: ButcherTableau = defineTableau({
  name: "midpoint",
  c: [0, 1 / 2],
  a: [[], [1 / 2]],
  b: [0, 1],
  order: 2,
});

/** The classical Runge–Kutta method: order 4, four stages. */
export const RK4_TABLEAU: ButcherTableau = defineTableau({
  name: "rk4",
  c: [0, 1 / 2, 1 / 2, 1],
  a: [[], [1 / 2], [0, 1 / 2], [0, 0, 1]],
  b: [1 / 6, 1 / 3, 1 / 3, 1 / 6],
  order: 4,
});

/** Heun–Euler 2(1): Heun's method with an Euler error estimate. */
export const ADAPTIVE_HEUN_TABLEAU: ButcherTableau = defineTableau({
  name: "adaptive_heun",
  c: [0, 1],
  a: [[], [1]],
  b: [1 / 2, 1 / 2],
  bError: [1 / 2 - 1, 1 / 2],
  order: 2,
  errorOrder: 1,
});

/** Bogacki–Shampine 3(2), FSAL. */
export const BOSH3_TABLEAU: ButcherTableau = defineTableau({
  name: "bosh3",
  c: [0, 1 / 2, 3 / 4, 1],
  a: [[], [1 / 2], [0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]],
  b: [2 / 9, 1 / 3, 4 / 9, 0],
  bError: [2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8],
  order: 3,
  errorOrder: 2,
});

/** Dormand–Prince 5(4), FSAL (the paper's solver). */
export const DOPRI5_TABLEAU: ButcherTableau = defineTableau({
  name: "dopri5",
  c: [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
  a: [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
  ],
  b: [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
  bError: [
    35 / 384 - 1951 / 21600,
    0,
    500 / 1113 - 22642 / 50085,
    125 / 192 - 451 / 720,
    -2187 / 6784 + 12231 / 42400,
    11 / 84 - 649 / 6300,
    -1 / 60,
  ],
  order: 5,
  errorOrder: 4,
});

const TSIT5_B = [
  0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
  1 / 100,
  0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
  1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
  -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
  2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
];
const TSIT5_BHAT = [
  0.09468075576583945807478876255758922856117527357724631226139574065785592789071067303271,
  0.009183565540343253096776363936645313759813746240984095238905939532922955247253608687270,
  0.4877705284247615707855642599631228241516691959761363774365216240304071651579571959813,
  1.234297566930478985655109673884237654035539930748192848315425833500484878378061439761,
  -2.707712349983525454881109975059321670689605166938197378763992255714444407154902012702,
  1.866628418170587035753719399566211498666255505244122593996591602841258328965767580089,
  1 / 66,
];

/** Tsitouras 5(4), FSAL. */
export const TSIT5_TABLEAU: ButcherTableau = defineTableau({
  name: "tsit5",
  c: [
    0,
    161 / 1000,
    327 / 1000,
    9 / 10,
    0.9800255409045096857298102862870245954942137979563024768854764293221195950761080302604,
    1,
    1,
  ],
  a: [
    [],
    [161 / 1000],
    [
      -0.008480655492356988544426874250230774675121177393430391537369234245294192976164141156943,
      0.3354806554923569885444268742502307746751211773934303915373692342452941929761641411569,
    ],
    [
      2.897153057105493432130432594192938764924887287701866490314866693455023795137503079289,
      -6.359448489975074843148159912383825625952700647415626703305928850207288721235210244366,
      4.362295432869581411017727318190886861027813359713760212991062156752264926097707165077,
    ],
    [
      5.325864828439256604428877920840511317836476253097040101202360397727981648835607691791,
      -11.74888356406282787774717033978577296188744178259862899288666928009020615663593781589,
      7.495539342889836208304604784564358155658679161518186721010132816213648793440552049753,
      -0.09249506636175524925650207933207191611349983406029535244034750452930469056411389539635,
    ],
    [
      5.861455442946420028659251486982647890394337666164814434818157239052507339770711679748,
      -12.92096931784710929170611868178335939541780751955743459166312250439928519268343184452,
      8.159367898576158643180400794539253485181918321135053305748355423955009222648673734986,
      -0.07158497328140099722453054252582973869127213147363544882721139659546372402303777878835,
      -0.02826905039406838290900305721271224146717633626879770007617876201276764571291579142206,
    ],
    TSIT5_B,
  ],
  b: [...TSIT5_B, 0],
  bError: [...TSIT5_B, 0].map((v, i) => v - TSIT5_BHAT[i]!),
  order: 5,
  errorOrder: 4,
});

const DOPRI8_B = [
  14005451 / 335480064,
  0,
  0,
  0,
  0,
  -59238493 / 1068277825,
  181606767 / 758867731,
  561292985 / 797845732,
  -1041891430 / 1371343529,
  760417239 / 1151165299,
  118820643 / 751138087,
  -528747749 / 2220607170,
  1 / 4,
];
const DOPRI8_BHAT = [
  13451932 / 455176623,
  0,
  0,
  0,
  0,
  -808719846 / 976000145,
  1757004468 / 5645159321,
  656045339 / 265891186,
  -3867574721 / 1518517206,
  465885868 / 322736535,
  53011238 / 667516719,
  2 / 45,
  0,
  0,
];

/**
 * Dormand–Prince 8(7), Prince & Dormand's RK8(7)13M with an FSAL stage, as
 * torchdiffeq's dopri8: 14 stages, 13 new evaluations per step.
 */
export const DOPRI8_TABLEAU: ButcherTableau = defineTableau({
  name: "dopri8",
  c: [
    0,
    1 / 18,
    1 / 12,
    1 / 8,
    5 / 16,
    3 / 8,
    59 / 400,
    93 / 200,
    5490023248 / 9719169821,
    13 / 20,
    1201146811 / 1299019798,
    1,
    1,
    1,
  ],
  a: [
    [],
    [1 / 18],
    [1 / 48, 1 / 16],
    [1 / 32, 0, 3 / 32],
    [5 / 16, 0, -75 / 64, 75 / 64],
    [3 / 80, 0, 0, 3 / 16, 3 / 20],
    [29443841 / 614563906, 0, 0, 77736538 / 692538347, -28693883 / 1125000000, 23124283 / 1800000000],
    [
      16016141 / 946692911,
      0,
      0,
      61564180 / 158732637,
      22789713 / 633445777,
      545815736 / 2771057229,
      -180193667 / 1043307555,
    ],
    [
      39632708 / 573591083,
      0,
      0,
      -433636366 / 683701615,
      -421739975 / 2616292301,
      100302831 / 723423059,
      790204164 / 839813087,
      800635310 / 3783071287,
    ],
    [
      246121993 / 1340847787,
      0,
      0,
      -37695042795 / 15268766246,
      -309121744 / 1061227803,
      -12992083 / 490766935,
      6005943493 / 2108947869,
      393006217 / 1396673457,
      123872331 / 1001029789,
    ],
    [
      -1028468189 / 846180014,
      0,
      0,
      8478235783 / 508512852,
      1311729495 / 1432422823,
      -10304129995 / 1701304382,
      -48777925059 / 3047939560,
      15336726248 / 1032824649,
      -45442868181 / 3398467696,
      3065993473 / 597172653,
    ],
    [
      185892177 / 718116043,
      0,
      0,
      -3185094517 / 667107341,
      -477755414 / 1098053517,
      -703635378 / 230739211,
      5731566787 / 1027545527,
      5232866602 / 850066563,
      -4093664535 / 808688257,
      3962137247 / 1805957418,
      65686358 / 487910083,
    ],
    [
      403863854 / 491063109,
      0,
      0,
      -5068492393 / 434740067,
      -411421997 / 543043805,
      652783627 / 914296604,
      11173962825 / 925320556,
      -13158990841 / 6184727034,
      3936647629 / 1978049680,
      -160528059 / 685178525,
      248638103 / 1413531060,
      0,
    ],
    DOPRI8_B,
  ],
  b: [...DOPRI8_B, 0],
  bError: [...DOPRI8_B, 0].map((v, i) => v - DOPRI8_BHAT[i]!),
  order: 8,
  errorOrder: 7,
});
