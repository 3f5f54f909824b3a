// The CLI's settings, read once from the environment: where the API is, the key to send, and
// whether colour is wanted. Flags (--url, --api-key) win over these; context.ts passes them in.
// Plain reads, no schema library: `--help` and shell completion (run at every Tab) stay quick.

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface CliSettings {
  url: string;
  apiKey: string | undefined;
  /** False when NO_COLOR is set (https://no-color.org) or the terminal says it cannot show colour. */
  colourAllowed: boolean;
}

/** A wrong setting: its message names the variable. */
export class SettingError extends Error {}

/** An http(s) URL, or an error saying what is wrong with it (named after where it came from). */
export function checkApiUrl(value: string, from: string): string | SettingError {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) return new SettingError(`${from} must be an http:// or https:// URL, not ${JSON.stringify(value)}`);
  return value;
}

/** Reads the settings; a wrong value throws a SettingError naming the variable. Empty means unset. */
export function loadCliSettings(env: Record<string, string | undefined> = process.env): CliSettings {
  const read = (name: string) => (env[name] === "" ? undefined : env[name]);
  const url = checkApiUrl(read("JETQ_URL") ?? DEFAULT_URL, "JETQ_URL");
  if (url instanceof SettingError) throw url;
  return { url, apiKey: read("JETQ_API_KEY"), colourAllowed: !read("NO_COLOR") && read("TERM") !== "dumb" };
}
