// The offline default embedder. It is LEXICAL: texts that share words (and word pieces) get similar
// vectors; texts that mean the same thing in different words do not. It needs no model, no network
// and no account, and the same text always gives the same vector on every machine.
//
// Feature hashing ("the hashing trick"): lower-cased word unigrams, word bigrams and character
// trigrams of each word are hashed (FNV-1a over UTF-16 code units, then a murmur3 finaliser) into
// `dimensions` buckets with a sign taken from another bit of the hash, so collisions cancel out on
// average instead of piling up. Term frequency is sublinear (1 + ln tf); the vector is L2-normalised.
import type { Embedder } from "./embedder.js";
import { normaliseL2 } from "../vectors/l2-normalise.js";

/** Common English words that say little about a chunk's topic. */
const STOP_WORDS = new Set(
  (
    "a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it its " +
    "just me my no nor not of on or our out so than that the their them then there these they this those to too was we " +
    "were what when where which while who whom why will with would you your"
  ).split(" "),
);

const TOKEN = /[\p{L}\p{N}]+/gu;

// Feature kinds hash into separate namespaces, and weigh differently: whole words say most,
// word pairs add phrase information, character trigrams catch inflections ("embed", "embeddings").
const UNIGRAM = 0x75; // 'u'
const BIGRAM = 0x62; // 'b'
const TRIGRAM = 0x74; // 't'
const WORD_WEIGHT = 1;
const PAIR_WEIGHT = 0.7;
const PIECE_WEIGHT = 0.3;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnvByte(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME);
}

function fnvString(h: number, s: string, from = 0, to = s.length): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Lower-cased word tokens without stop words and without lone letters. */
export function lexicalTokens(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize("NFKC").toLowerCase().matchAll(TOKEN)) {
    const t = m[0];
    if (STOP_WORDS.has(t)) continue;
    if (t.length === 1 && !/\p{N}/u.test(t)) continue;
    out.push(t);
  }
  return out;
}

export interface LexicalEmbedderOptions {
  /** Vector size; 512 by default (JETQ_LEXICAL_DIMENSIONS). */
  dimensions?: number;
}

export class LexicalEmbedder implements Embedder {
  readonly name: string;
  readonly dimensions: number;

  constructor(options: LexicalEmbedderOptions = {}) {
    const dimensions = options.dimensions ?? 512;
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
    this.dimensions = dimensions;
    this.name = `lexical-hash-v1-${dimensions}`;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const text of texts) {
      signal?.throwIfAborted();
      out.push(this.embedOne(text));
    }
    return out;
  }

  /** Synchronous form of embed() for one text. */
  embedOne(text: string): Float32Array {
    // One tf table per feature kind, so each kind keeps its own weight.
    const words = new Map<number, number>();
    const pairs = new Map<number, number>();
    const pieces = new Map<number, number>();
    const add = (m: Map<number, number>, h: number) => m.set(h, (m.get(h) ?? 0) + 1);
    const tokens = lexicalTokens(text);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      add(words, fnvString(fnvByte(FNV_OFFSET, UNIGRAM), t));
      if (i > 0) add(pairs, fnvString(fnvByte(fnvString(fnvByte(FNV_OFFSET, BIGRAM), tokens[i - 1]!), 0x20), t));
      // Trigrams of "<token>": the markers let "art" at a word's start differ from "art" inside one.
      if (t.length >= 3) {
        const padded = `<${t}>`;
        for (let j = 0; j + 3 <= padded.length; j++) add(pieces, fnvString(fnvByte(FNV_OFFSET, TRIGRAM), padded, j, j + 3));
      }
    }

    const v = new Float32Array(this.dimensions);
    this.accumulate(v, words, WORD_WEIGHT);
    this.accumulate(v, pairs, PAIR_WEIGHT);
    this.accumulate(v, pieces, PIECE_WEIGHT);
    normaliseL2(v); // an empty (or all stop-word) text stays the zero vector
    return v;
  }

  private accumulate(v: Float32Array, tf: Map<number, number>, weight: number): void {
    for (const [h, n] of tf) {
      const m = mix(h);
      const sign = m & 0x80000000 ? -1 : 1; // the top bit signs; the low bits pick the bucket
      v[m % this.dimensions]! += sign * weight * (1 + Math.log(n));
    }
  }
}
