// A shortcut past libphonenumber for the shapes almost every recipient list is made of: a mobile number of the
// campaign's country written with its country code (`+62 812…`, `62812…`) or with the trunk prefix (`0812…`).
// It runs the same checks libphonenumber-js (the `max` metadata) runs for those inputs, from the same metadata,
// without its per-call object and RegExp construction (~35% of planning time). It only ever says "valid, and
// this is the E.164 number"; for anything else it says nothing and the caller asks libphonenumber.
//
// Why the answer is the same (libphonenumber-js 1.13, source/parse.js and helpers/*), for a country X whose
// calling code C belongs to X alone, whose national prefix is `0` (or none), parsed with no other
// national-prefix-for-parsing and no transform rule:
// - `+` C N, with N not starting with 0: the calling code found is C (calling codes are prefix-free), the plan is
//   X's, the national prefix pattern `0` does not match N, so the national number is N and the country is X.
// - `0` N (national, default country X): `0` N does not start with X's IDD prefix (checked), and cannot start
//   with C (no calling code starts with 0), so it is national; the prefix `0` is stripped because N matches X's
//   national pattern and N's length is a possible length, so the national number is N.
// - isValid() with types in the metadata is getNumberType() !== undefined, and a number that matches the
//   national pattern and the MOBILE pattern (with a MOBILE length) has a type (MOBILE, or FIXED_LINE[_OR_MOBILE]).
// test/phone-fast.test.ts compares both on a large generated sample per supported country.
import { Metadata, type CountryCode } from 'libphonenumber-js/max';

/** What the shortcut needs of one country, compiled once. */
interface FastPlan {
  callingCode: string;
  /** Whether `0` N is the national form (national prefix `0`). */
  trunkZero: boolean;
  idd: RegExp;
  national: RegExp;
  mobile: RegExp;
  nationalLengths: ReadonlySet<number>;
  mobileLengths: ReadonlySet<number>;
}

const plans = new Map<string, FastPlan | null>();

/** Metadata accessors libphonenumber-js has but does not declare in its typings. */
interface NumberingPlan {
  callingCode(): string;
  nationalPrefix(): string | 0 | undefined;
  _nationalPrefixForParsing(): string | 0 | undefined;
  nationalPrefixTransformRule(): string | 0 | undefined;
  IDDPrefix(): string;
  nationalNumberPattern(): string;
  possibleLengths(): number[] | undefined;
  type(name: string): { pattern(): string; possibleLengths(): number[] | undefined } | undefined;
}

function planFor(country: CountryCode): FastPlan | null {
  const cached = plans.get(country);
  if (cached !== undefined) return cached;
  let plan: FastPlan | null = null;
  try {
    const metadata = new Metadata();
    metadata.selectNumberingPlan(country);
    const np = (metadata as unknown as { numberingPlan: NumberingPlan }).numberingPlan;
    const callingCode = np.callingCode();
    const sharers = (metadata as unknown as { getCountryCodesForCallingCode(c: string): string[] | undefined }).getCountryCodesForCallingCode(callingCode);
    // The compressed metadata writes "absent" as 0.
    const prefix = np.nationalPrefix() || undefined;
    const forParsing = np._nationalPrefixForParsing() || undefined;
    const mobile = np.type('MOBILE');
    const nationalLengths = np.possibleLengths();
    const mobileLengths = mobile?.possibleLengths() ?? nationalLengths;
    if (
      sharers?.length === 1 &&
      (prefix === undefined || prefix === '0') &&
      (forParsing === undefined || forParsing === prefix) &&
      !np.nationalPrefixTransformRule() &&
      mobile?.pattern() &&
      nationalLengths &&
      mobileLengths
    ) {
      plan = {
        callingCode,
        trunkZero: prefix === '0',
        idd: new RegExp('^(?:' + np.IDDPrefix() + ')'),
        national: new RegExp('^(?:' + np.nationalNumberPattern() + ')$'),
        mobile: new RegExp('^(?:' + mobile.pattern() + ')$'),
        nationalLengths: new Set(nationalLengths),
        mobileLengths: new Set(mobileLengths),
      };
    }
  } catch {
    plan = null;
  }
  plans.set(country, plan);
  return plan;
}

function mobileNumber(plan: FastPlan, national: string): string | undefined {
  if (
    national.charCodeAt(0) === 48 || // '0'
    !plan.mobileLengths.has(national.length) ||
    !plan.nationalLengths.has(national.length) ||
    !plan.national.test(national) ||
    !plan.mobile.test(national)
  ) {
    return undefined;
  }
  const phone = plan.callingCode + national;
  return phone.length >= 8 && phone.length <= 15 ? phone : undefined;
}

/**
 * The API form (`6281234567890`) of `digits` when it is, beyond doubt, a valid mobile number of `country` in one
 * of the common shapes, exactly as `normalisePhone` would give it through libphonenumber; undefined otherwise
 * (then libphonenumber decides). `plus` says the text started with `+`.
 */
export function fastMobile(digits: string, plus: boolean, country: CountryCode): string | undefined {
  const plan = planFor(country);
  if (!plan) return undefined;
  if (digits.startsWith(plan.callingCode)) {
    // `+62 812…`, or `62812…`: the international reading is valid and in the default country, which wins.
    return mobileNumber(plan, digits.slice(plan.callingCode.length));
  }
  if (!plus && plan.trunkZero && digits.charCodeAt(0) === 48 && !plan.idd.test(digits)) {
    return mobileNumber(plan, digits.slice(1));
  }
  return undefined;
}
