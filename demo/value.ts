// The value a run sends: a generated auction of the chosen size, made once per
// size and kept, and the copy of it whose toJSON throws for the fault button.
import { makeAuction, type Auction } from "./auction.ts";
import { nextFrame } from "./dom.ts";
import { setPhase } from "./render.ts";

let cached: { mb: number; value: Auction } | undefined;

export async function auction(mb: number): Promise<Auction> {
  if (cached?.mb === mb) return cached.value;
  cached = undefined;
  setPhase(`generating a ${mb} MB value (not measured)…`, true);
  await nextFrame();
  const value = makeAuction(mb * 1_000_000);
  cached = { mb, value };
  await nextFrame();
  return value;
}

/** A copy of the auction (sharing its orders) in which the order at `fraction` throws from toJSON. */
export function withThrowingOrder(value: Auction, fraction: number): { value: Auction; index: number } {
  const orders = value.orders.slice();
  const index = Math.floor(orders.length * fraction);
  const order = orders[index]!;
  orders[index] = {
    ...order,
    toJSON() {
      throw new Error(`toJSON failed on order ${order.id.slice(0, 12)}… (a fault injected at 60% of the value)`);
    },
  } as typeof order;
  return { value: { ...value, orders }, index };
}
