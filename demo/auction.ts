// A generated auction payload, shaped like the bodies sluice was made for:
// orders with hex ids, decimal-string amounts, numbers, nested arrays and a
// few non-ASCII token symbols. Deterministic for a given size and seed, so
// that tests, benchmarks and the demo can regenerate the same value anywhere.

/** One order of the generated auction. */
export interface Order {
  id: string;
  owner: string;
  sellToken: string;
  buyToken: string;
  sellAmount: string;
  buyAmount: string;
  feeAmount: string;
  validTo: number;
  kind: "sell" | "buy";
  partiallyFillable: boolean;
  class: "market" | "limit" | "liquidity";
  score: number;
  interactions: { target: string; value: string; callData: string }[][];
}

/** The generated auction: a header, a token table and the orders. */
export interface Auction {
  id: number;
  block: number;
  deadline: string;
  tokens: Record<string, { symbol: string; decimals: number; price: string }>;
  orders: Order[];
}

const SYMBOLS = ["WETH", "USDC", "DAI", "GNO", "COW", "wstETH", "€URe", "ÆTH", "円JPY", "🦄UNI", "ŁUKSO", "Δdelta"];

/** A small, fast, seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hex(random: () => number, bytes: number): string {
  let s = "0x";
  for (let i = 0; i < bytes; i += 4) s += ((random() * 4294967296) >>> 0).toString(16).padStart(8, "0");
  return s.slice(0, 2 + bytes * 2);
}

function decimal(random: () => number, digits: number): string {
  let s = String(1 + Math.floor(random() * 9));
  while (s.length < digits) s += String(Math.floor(random() * 1e9)).padStart(9, "0");
  return s.slice(0, digits);
}

/** Roughly how many JSON bytes one generated order takes (measured on the generator). */
const BYTES_PER_ORDER = 960;

/**
 * Generates an auction whose `JSON.stringify` is about `targetBytes` long
 * (within a few percent). The same `targetBytes` and `seed` give the same value.
 */
export function makeAuction(targetBytes: number, seed = 1): Auction {
  const random = prng(seed);
  const tokenAddresses = SYMBOLS.map(() => hex(random, 20));
  const tokens: Auction["tokens"] = {};
  SYMBOLS.forEach((symbol, i) => {
    tokens[tokenAddresses[i]!] = { symbol, decimals: [18, 6, 8][i % 3]!, price: decimal(random, 22) };
  });
  const count = Math.max(1, Math.round(targetBytes / BYTES_PER_ORDER));
  const orders: Order[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const sell = Math.floor(random() * SYMBOLS.length);
    const buy = (sell + 1 + Math.floor(random() * (SYMBOLS.length - 1))) % SYMBOLS.length;
    const interactions: Order["interactions"] = [];
    const groups = 1 + Math.floor(random() * 3);
    for (let g = 0; g < groups; g++) {
      const group = [];
      const n = Math.floor(random() * 3);
      for (let k = 0; k < n; k++) group.push({ target: hex(random, 20), value: decimal(random, 1 + Math.floor(random() * 18)), callData: hex(random, 36 + Math.floor(random() * 64)) });
      interactions.push(group);
    }
    orders[i] = {
      id: hex(random, 56),
      owner: hex(random, 20),
      sellToken: tokenAddresses[sell]!,
      buyToken: tokenAddresses[buy]!,
      sellAmount: decimal(random, 15 + Math.floor(random() * 10)),
      buyAmount: decimal(random, 15 + Math.floor(random() * 10)),
      feeAmount: decimal(random, 10 + Math.floor(random() * 6)),
      validTo: 1_700_000_000 + Math.floor(random() * 10_000_000),
      kind: random() < 0.5 ? "sell" : "buy",
      partiallyFillable: random() < 0.3,
      class: (["market", "limit", "liquidity"] as const)[Math.floor(random() * 3)]!,
      score: Math.round(random() * 1e6) / 1e3,
      interactions,
    };
  }
  return { id: seed, block: 19_000_000 + seed, deadline: "2026-11-22T12:00:00.000Z", tokens, orders };
}
