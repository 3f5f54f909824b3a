// Checks for flag values that yargs' own types let through (a number flag given "abc" is NaN).
// A coerce function that throws makes yargs report a usage error (exit code 2).

/** A whole number of at least `min`, or a usage error naming the flag. */
export function wholeNumber(flag: string, min = 0) {
  return (value: number | undefined): number | undefined => {
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < min) throw new Error(`${flag} must be a whole number${min > 0 ? ` of at least ${min}` : " (0 or more)"}, not ${JSON.stringify(String(value))}`);
    return value;
  };
}
