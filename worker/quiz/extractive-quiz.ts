// The default quiz generator, with no model behind it: it picks key sentences from the book, blanks
// a salient term (a name, a number, a rare word) and, for multiple choice, offers other terms of
// the same kind from the same book as distractors. Deterministic: the same chunks give the same quiz.
import { NonRetryableError } from "../../kernel/errors.js";
import type { Chunk } from "../documents/document.js";
import type { QuizGenerator, QuizQuestion } from "./quiz-generator.js";

type TermKind = "name" | "number" | "word";

interface Term {
  text: string;
  kind: TermKind;
  /** Offset in the sentence. */
  start: number;
  salience: number;
}

interface Sentence {
  chunk: Chunk;
  /** Exactly as it appears in the chunk's text, so every term is a substring of the chunk. */
  text: string;
  /** Position in the book, for stable ordering. */
  order: number;
  wordCount: number;
}

interface Candidate {
  sentence: Sentence;
  terms: Term[];
  score: number;
}

interface PoolTerm {
  text: string;
  kind: TermKind;
}

const MIN_WORDS = 8;
const MAX_WORDS = 40;
const BLANK = "_____";
const DISTRACTORS = 3;

const STOPWORDS = new Set(
  (
    "a about above after again against all also although am among an and another any are as at be because been before being below between both but by " +
    "can could did do does doing down during each either else even ever every few for from further had has have having he her here hers herself him himself his how however " +
    "i if in into is it its itself just least less many may me might more most much must my myself neither never no nor not now of off often on once only or other others " +
    "otherwise our ours ourselves out over own perhaps quite rather same several shall she should since so some still such than that the their theirs them themselves then " +
    "there therefore these they this those though through thus to too toward towards under until up upon us very was we well were what whatever when whenever where whereas " +
    "whether which while who whom whose why will with within without would yet you your yours yourself yourselves chapter section figure table page pages " +
    "always already around because become becomes became before behind beside besides beyond certain certainly different during enough especially example finally " +
    "first following generally given important include includes including instead itself largely little likely mostly nothing number numbers particular particularly " +
    "possible probably really second something sometimes somewhat therefore things thought together usually various whatever whenever whether whichever within"
  ).split(/\s+/),
);

const WORD = /\p{L}[\p{L}\p{M}'’-]*/gu;
const NUMBER = /(?<![\p{L}\p{N}.,-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![\p{L}\p{N}]|[.,]\d)/gu;

export class ExtractiveQuizGenerator implements QuizGenerator {
  readonly name = "extractive-v1";

  async generate(input: { bookId: string; chunks: Chunk[]; questionCount: number }, signal?: AbortSignal): Promise<QuizQuestion[]> {
    signal?.throwIfAborted();
    const chunks = [...input.chunks].sort((a, b) => a.index - b.index || compareText(a.chunkId, b.chunkId));
    const sentences = uniqueSentences(chunks);
    const stats = bookStats(sentences);
    const candidates = sentences.map((s) => candidateOf(s, stats)).filter((c): c is Candidate => c !== undefined);
    if (candidates.length === 0) {
      throw new NonRetryableError(`book ${input.bookId} has too little text for a quiz: no sentence of ${MIN_WORDS}–${MAX_WORDS} words with a term to ask about`, "not_enough_text");
    }
    const count = Math.max(0, Math.floor(input.questionCount));
    const picked = spreadAcrossBook(candidates, count).sort((a, b) => a.sentence.order - b.sentence.order);

    const usedAnswers = new Set<string>();
    let lastKind: TermKind | undefined;
    return picked.map((candidate, i) => {
      // Blank a term not asked about yet, and vary the kind of term from one question to the next.
      const fresh = candidate.terms.filter((t) => !usedAnswers.has(t.text.toLowerCase()));
      const pool = fresh.length > 0 ? fresh : candidate.terms;
      const weight = (t: Term) => t.salience - (t.kind === lastKind ? 0.7 : 0);
      const term = pool.reduce((best, t) => (weight(t) > weight(best) ? t : best));
      usedAnswers.add(term.text.toLowerCase());
      lastKind = term.kind;
      const distractors = i % 3 === 2 ? [] : distractorsFor(term, candidate.sentence, stats);
      return questionOf(candidate.sentence, term, distractors);
    });
  }
}

/** Splits every chunk into sentences, keeping each sentence once even where chunks overlap. */
function uniqueSentences(chunks: Chunk[]): Sentence[] {
  const seen = new Set<string>();
  const out: Sentence[] = [];
  for (const chunk of chunks) {
    for (const text of splitSentences(chunk.text)) {
      const key = text.replace(/\s+/g, " ").toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ chunk, text, order: out.length, wordCount: text.split(/\s+/).filter(Boolean).length });
    }
  }
  return out;
}

/** Complete-looking sentences: they start with a capital, a digit or a quote and end with terminal punctuation. */
function splitSentences(text: string): string[] {
  const pieces = text.split(/\n\s*\n|(?<=[.!?]["'”’)]?)\s+(?=["'“‘(]?[\p{Lu}\d])/u);
  return pieces.map((p) => p.trim()).filter((p) => /^["'“‘(]?[\p{Lu}\d]/u.test(p) && /[.!?]["'”’)]?$/u.test(p));
}

interface BookStats {
  /** Lower-cased word → occurrences in the book. */
  wordFreq: Map<string, number>;
  /** Lower-cased word → occurrences written capitalised, not at a sentence's start. */
  capitalisedFreq: Map<string, number>;
  /** Every term of each kind, by lower-cased text, in the order first seen. */
  pools: Record<TermKind, Map<string, PoolTerm>>;
  rareLimit: number;
}

function bookStats(sentences: Sentence[]): BookStats {
  const wordFreq = new Map<string, number>();
  const capitalisedFreq = new Map<string, number>();
  let total = 0;
  for (const s of sentences) {
    let first = true;
    for (const m of s.text.matchAll(WORD)) {
      const w = trimWord(m[0]).toLowerCase();
      wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1);
      if (!first && /^\p{Lu}/u.test(m[0])) capitalisedFreq.set(w, (capitalisedFreq.get(w) ?? 0) + 1);
      first = false;
      total++;
    }
  }
  const stats: BookStats = {
    wordFreq,
    capitalisedFreq,
    pools: { name: new Map(), number: new Map(), word: new Map() },
    rareLimit: Math.max(3, Math.ceil(total / 500)),
  };
  for (const s of sentences) {
    for (const t of termsOf(s.text, stats, false)) {
      const key = t.text.toLowerCase();
      if (!stats.pools[t.kind].has(key)) stats.pools[t.kind].set(key, { text: t.text, kind: t.kind });
    }
  }
  return stats;
}

function candidateOf(sentence: Sentence, stats: BookStats): Candidate | undefined {
  if (sentence.wordCount < MIN_WORDS || sentence.wordCount > MAX_WORDS) return undefined;
  // Tables, references and code read badly as questions: ask only about prose.
  const letters = sentence.text.match(/[\p{L}\s]/gu)?.length ?? 0;
  if (letters / sentence.text.length < 0.75 || /https?:\/\/|www\./i.test(sentence.text)) return undefined;
  const lower = sentence.text.toLowerCase();
  const terms = termsOf(sentence.text, stats, true)
    // A term written twice in the sentence would give its own blank away.
    .filter((t) => lower.indexOf(t.text.toLowerCase()) === lower.lastIndexOf(t.text.toLowerCase()))
    .sort((a, b) => b.salience - a.salience || a.start - b.start);
  if (terms.length === 0) return undefined;
  const lengthBonus = sentence.wordCount >= 12 && sentence.wordCount <= 28 ? 0.3 : 0;
  return { sentence, terms, score: terms[0]!.salience + 0.25 * Math.min(terms.length - 1, 3) + lengthBonus };
}

/** Names (capitalised words, runs of them preferred), numbers, and rare long words. */
function termsOf(text: string, stats: BookStats, rareWordsOnly: boolean): Term[] {
  const terms: Term[] = [];
  for (const m of text.matchAll(NUMBER)) {
    const digits = m[0].replace(/\D/g, "").length;
    if (digits >= 2 || /[.%]/.test(m[0])) terms.push({ text: m[0], kind: "number", start: m.index!, salience: 2.6 });
  }

  const words = [...text.matchAll(WORD)].map((m) => ({ text: trimWord(m[0]), start: m.index!, raw: m[0] }));
  let i = 0;
  while (i < words.length) {
    const w = words[i]!;
    if (!/^\p{Lu}/u.test(w.text)) {
      const lower = w.text.toLowerCase();
      const freq = stats.wordFreq.get(lower) ?? 1;
      if ([...w.text].length >= 6 && !STOPWORDS.has(lower) && (!rareWordsOnly || freq <= stats.rareLimit)) {
        terms.push({ text: w.text, kind: "word", start: w.start, salience: 1 + 1 / freq + Math.min([...w.text].length, 12) / 24 });
      }
      i++;
      continue;
    }
    // A run of capitalised words separated by single spaces: "Roman Empire", "Marie Curie".
    let j = i;
    while (j + 1 < words.length && /^\p{Lu}/u.test(words[j + 1]!.text) && words[j]!.raw === words[j]!.text && text.slice(words[j]!.start + words[j]!.raw.length, words[j + 1]!.start) === " ") j++;
    let run = words.slice(i, j + 1);
    while (run.length > 0 && STOPWORDS.has(run[0]!.text.toLowerCase())) run = run.slice(1);
    i = j + 1;
    if (run.length === 0) continue;
    const atSentenceStart = run[0]!.start === words[0]!.start;
    if (run.length === 1) {
      const only = run[0]!;
      const lower = only.text.toLowerCase();
      // A lone capitalised word is a name only when the book writes it capitalised mid-sentence at least as often as not.
      const capitalised = stats.capitalisedFreq.get(lower) ?? 0;
      const plain = (stats.wordFreq.get(lower) ?? 0) - capitalised - (atSentenceStart ? 1 : 0);
      if (atSentenceStart || [...only.text].length < 2 || capitalised < plain || capitalised === 0) continue;
      terms.push({ text: only.text, kind: "name", start: only.start, salience: 2.2 });
    } else {
      const last = run[run.length - 1]!;
      const phrase = text.slice(run[0]!.start, last.start + last.text.length);
      terms.push({ text: phrase, kind: "name", start: run[0]!.start, salience: 3 + 0.1 * Math.min(run.length, 4) });
    }
  }
  return terms;
}

/** Drops trailing hyphens, apostrophes and possessive 's. */
function trimWord(w: string): string {
  return w.replace(/['’]s$/u, "").replace(/[-'’]+$/u, "");
}

/**
 * Picks up to `count` candidates spread over the book: each round splits the chunks that still have
 * candidates into as many contiguous stretches as questions remain, and takes the best of each.
 */
function spreadAcrossBook(candidates: Candidate[], count: number): Candidate[] {
  const byChunk = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const list = byChunk.get(c.sentence.chunk.chunkId) ?? [];
    list.push(c);
    byChunk.set(c.sentence.chunk.chunkId, list);
  }
  const better = (a: Candidate, b: Candidate) => b.score - a.score || a.sentence.order - b.sentence.order;
  const queues = [...byChunk.values()].map((list) => list.sort(better));
  const picked: Candidate[] = [];
  while (picked.length < count) {
    const active = queues.filter((q) => q.length > 0);
    if (active.length === 0) break;
    const stretches = Math.min(count - picked.length, active.length);
    for (let s = 0; s < stretches; s++) {
      const from = Math.floor((s * active.length) / stretches);
      const to = Math.floor(((s + 1) * active.length) / stretches);
      let best = active[from]!;
      for (let k = from + 1; k < to; k++) if (better(active[k]![0]!, best[0]!) < 0) best = active[k]!;
      picked.push(best.shift()!);
    }
  }
  return picked;
}

/** Other terms of the same kind and a similar shape from the same book, none of which fits the blank by accident. */
function distractorsFor(answer: Term, sentence: Sentence, stats: BookStats): string[] {
  const answerLower = answer.text.toLowerCase();
  const sentenceLower = sentence.text.toLowerCase();
  const seed = `${sentence.chunk.chunkId}|${answer.text}`;
  const options: Array<{ text: string; distance: number; tiebreak: number }> = [];
  for (const [lower, term] of stats.pools[answer.kind]) {
    if (lower === answerLower || lower.includes(answerLower) || answerLower.includes(lower) || sentenceLower.includes(lower)) continue;
    if (answer.kind === "number" && numericValue(lower) === numericValue(answerLower)) continue;
    options.push({ text: term.text, distance: shapeDistance(answer, term.text), tiebreak: hash32(`${seed}|${lower}`) });
  }
  options.sort((a, b) => a.distance - b.distance || a.tiebreak - b.tiebreak);
  const chosen: string[] = [];
  for (const o of options) {
    if (chosen.length === DISTRACTORS) break;
    if (!chosen.some((c) => c.toLowerCase() === o.text.toLowerCase())) chosen.push(o.text);
  }
  return chosen.length === DISTRACTORS ? chosen : [];
}

function shapeDistance(answer: Term, other: string): number {
  const a = answer.text;
  switch (answer.kind) {
    case "number": {
      const digits = (s: string) => s.replace(/\D/g, "").length;
      return Math.abs(digits(a) - digits(other)) + (a.includes("%") !== other.includes("%") ? 2 : 0) + (a.includes(".") !== other.includes(".") ? 1 : 0);
    }
    case "name": {
      const words = (s: string) => s.split(" ").length;
      return Math.abs(words(a) - words(other)) + Math.abs(a.length - other.length) / 10;
    }
    case "word":
      return Math.abs(a.length - other.length) / 3 + (a.slice(-2).toLowerCase() === other.slice(-2).toLowerCase() ? 0 : 1);
  }
}

function numericValue(s: string): number {
  return Number(s.replace(/[,%]/g, ""));
}

function questionOf(sentence: Sentence, term: Term, distractors: string[]): QuizQuestion {
  const blanked = oneLine(sentence.text.slice(0, term.start) + BLANK + sentence.text.slice(term.start + term.text.length));
  const base = {
    answer: term.text,
    sourceChunkId: sentence.chunk.chunkId,
    page: sentence.chunk.page,
    explanation: `From page ${sentence.chunk.page}: "${oneLine(sentence.text)}"`,
  };
  if (distractors.length === 0) {
    // Typed in, not picked: the only choice is the answer itself.
    return { kind: "cloze", question: `Fill in the blank: ${blanked}`, choices: [term.text], answerIndex: 0, ...base };
  }
  const choices = shuffle([term.text, ...distractors], hash32(`${sentence.chunk.chunkId}|${sentence.order}`));
  const noun = term.kind === "number" ? "number" : term.kind === "name" ? "name" : "word";
  return { kind: "multiple_choice", question: `Which ${noun} fills the blank? ${blanked}`, choices, answerIndex: choices.indexOf(term.text), ...base };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Fisher–Yates with a small seeded generator (mulberry32). */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** FNV-1a: a stable 32-bit hash for seeds and tie-breaks. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
