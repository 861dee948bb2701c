# syntax=docker/dockerfile:1
#
# Anvil in one image. The same image runs on the embedded PGlite store (DATABASE_URL unset:
# everything lives in the /data volume) or on PostgreSQL (DATABASE_URL=postgres://...; /data
# then holds only the key-encryption key, which must be kept and backed up all the same).
#
#   docker build -t anvil .
#   docker run -p 8080:8080 -p 8443:8443 -v anvil-data:/data anvil
#
# There is no compile step: the server runs its TypeScript through tsx, as `npm start` does.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install the production dependencies of every workspace -------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY apps/server/package.json apps/server/
COPY apps/cli/package.json apps/cli/
# The launcher too: npm links the `anvil` bin only when its target exists at install time.
COPY apps/cli/bin apps/cli/bin
COPY packages/pki/package.json packages/pki/
COPY packages/ca/package.json packages/ca/
COPY db/package.json db/
# The root postinstall repairs postgres.js's write scheduler (see the script).
COPY db/scripts db/scripts
# --omit=dev leaves out the test and build tools (vitest, typescript, drizzle-kit, playwright);
# tsx stays, as a dependency of @anvil/cli. npm ci installs exactly the lockfile; should it
# refuse the lockfile as out of sync (it lists each platform's optional packages only when the
# registry it was written against served them), fall back to npm install, loudly.
RUN npm ci --omit=dev \
 || { echo '!!! npm ci refused package-lock.json; falling back to npm install --omit=dev' >&2; \
      npm install --omit=dev --no-save; }

COPY tsconfig.base.json tsconfig.json ./
COPY apps apps
COPY packages packages
COPY db db

# ---- runtime -------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    ANVIL_MTLS_PORT=8443 \
    ANVIL_DATA_DIR=/data
WORKDIR /app

# Code and dependencies belong to root and are read-only for the server; only /data is its own.
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
VOLUME /data
EXPOSE 8080 8443

# Liveness only (no database): orchestrators that know readiness should probe /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# What `npm start` runs, without npm in between, so SIGTERM reaches the server and it closes
# the database cleanly.
CMD ["node", "--import", "tsx", "apps/server/src/main.ts"]
