# The gudang worker, compiled (npm run build: dist/src/worker.js and the workflow bundle) and run by node directly,
# so it receives SIGTERM and no TypeScript loader sits in its memory. Used by docker-compose.yml; see there for
# the environment it expects (DATABASE_URL, TEMPORAL_ADDRESS, ...).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so code changes do not invalidate this layer. tsx and esbuild (the build step, and the CLI
# and demo) are runtime dependencies; dev tools are left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .
RUN npm run build

# The unprivileged user that the node image provides.
RUN chown -R node:node /app
USER node

CMD ["node", "--enable-source-maps", "dist/src/worker.js"]
