// The y span of a time chart: the data's own, or a span the caller fixes (the loss chart spans
// the current run only, so an overlaid earlier run that diverged cannot squash it). Pure.

// A log axis spans whole decades and marks each one: 0.001, 0.01, 0.1 … (a constant learning
// rate of 0.03 reads between 0.01 and 0.1, its value in the caption).
export function decadeRange(lo, hi) {
  if (!(lo > 0) || !(hi > 0)) return [0.1, 1];
  const low = Math.floor(Math.log10(lo));
  return [10 ** low, 10 ** Math.max(low + 1, Math.ceil(Math.log10(hi)))];
}

// `fixed`: [lo, hi] or null (then the data's `lo`, `hi` are spanned). A log axis cannot show
// zero or less: such a fixed end gives way to the data's end (whose points are all positive).
export function yScaleRange(fixed, lo, hi, log) {
  if (log) {
    const from = fixed && fixed[0] > 0 ? fixed[0] : lo;
    const to = fixed && fixed[1] > 0 ? fixed[1] : hi;
    return decadeRange(from, to);
  }
  const [from, to] = fixed ?? [lo, hi];
  return [Math.min(0, from), to > 0 ? to * 1.05 : 1];
}
