import { defineConfig } from "vite";

// `npm run dev` serves the terminal with hot reload and forwards the API to a running
// `rialto up` (RIALTO_URL, default http://127.0.0.1:8000). `npm run build` writes dist/,
// which the gateway serves at /.
const target = process.env.RIALTO_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: {
    proxy: {
      "/api": target,
      "/ws": { target, ws: true },
      "/stream": { target, ws: true },
    },
  },
});
