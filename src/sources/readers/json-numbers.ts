// JSON numbers read exactly: the JSON reader (json.ts) passes each record's text through quoteLongNumbers before
// JSON.parse.

/** A run of 16 digits and points: the text may hold a number JSON.parse would not read exactly. */
const MAYBE_LONG_NUMBER = /[0-9.]{16}/;
const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * The JSON text with every number of more than 15 significant digits written as a string of its own text: a
 * JavaScript number holds 15 to 17, so JSON.parse would round it without a word (a decimal's last digits, an
 * integer beyond 2^53). The columns read such a string exactly (an integer as a bigint, a numeric as its decimal
 * text, a text column as written); shorter numbers stay numbers. Numbers are only ever values (keys are strings).
 */
export function quoteLongNumbers(text: string): string {
  if (!MAYBE_LONG_NUMBER.test(text)) return text;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
    NUMBER_TOKEN.lastIndex = i;
    const m = NUMBER_TOKEN.exec(text);
    if (!m) continue;
    const token = m[0];
    const mantissa = token.replace(/[eE].*$/, '').replace(/[-.]/g, '').replace(/^0+/, '');
    if (mantissa.length > 15) {
      out += `${text.slice(from, i)}"${token}"`;
      from = i + token.length;
    }
    i += token.length - 1;
  }
  return from === 0 ? text : out + text.slice(from);
}
