// The terminal's shared state and a tiny event bus between the views.

import type { Account, Interval, SymbolInfo, Ticker, User } from "./types";

export interface Events {
  symbol: SymbolInfo; // the selected market changed
  user: User | null; // logged in or out
  account: Account; // balances changed
  orders: void; // the user's orders or trades changed (refetch)
  ticker: Ticker; // a market's 24h figures changed
  price: string; // a price picked from the book or the tape, for the order form
}

type Listener<T> = (value: T) => void;

class Bus {
  private listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(fn as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<Events[K]>)(value);
      } catch (err) {
        console.warn(`a listener of ${event} failed`, err);
      }
    }
  }
}

export const bus = new Bus();

export const state = {
  symbols: new Map<string, SymbolInfo>(),
  tickers: new Map<string, Ticker>(),
  symbol: null as SymbolInfo | null,
  interval: "1m" as Interval,
  user: null as User | null,
  account: null as Account | null,
};

export function sym(): SymbolInfo {
  if (!state.symbol) throw new Error("no market selected");
  return state.symbol;
}

export function balance(asset: string): { free: string; locked: string } {
  const b = state.account?.balances.find((x) => x.asset === asset);
  return b ?? { free: "0", locked: "0" };
}
