// The shapes the terminal reads (Binance's, and Rialto's session endpoints).

export interface SymbolInfo {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tick: string; // PRICE_FILTER tickSize
  step: string; // LOT_SIZE stepSize
  minNotional: string;
}

export interface Ticker {
  symbol: string;
  last: string;
  open: string;
  high: string;
  low: string;
  volume: string;
  quoteVolume: string;
}

export interface Balance {
  asset: string;
  free: string;
  locked: string;
}

export interface Account {
  uid: number;
  email: string;
  balances: Balance[];
  fees: Record<string, { maker: string; taker: string }>;
}

export interface Order {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  price: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  status: string;
  timeInForce: string;
  type: string;
  side: string;
  stopPrice?: string;
  time: number;
  updateTime: number;
}

export interface MyTrade {
  symbol: string;
  id: number;
  orderId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface TradeTick {
  id: number;
  price: string;
  qty: string;
  time: number;
  isBuyerMaker: boolean;
}

export interface User {
  user_id: number;
  email: string;
}

export const INTERVALS = [
  "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
] as const;
export type Interval = (typeof INTERVALS)[number];
