# syntax=docker/dockerfile:1
#
# One image for orders, shipping and notifier; docker-compose.yml picks the service by command:
#   node dist/services/<orders|shipping|notifier>/main.js
# Stages: build (all deps, tsc) and prod-deps (runtime deps only) feed a small runtime stage
# that runs as the unprivileged `node` user.

ARG NODE_IMAGE=node:20.19.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first: the npm ci layer is reused until the lockfile changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
# Besides compiled code the services read files at run time (drizzle SQL migrations and their
# journal), located from the project root by projectPath(); collect them with their paths.
RUN npm run build \
  && mkdir -p /runtime-assets \
  && find services -type f ! -name '*.ts' -exec cp --parents {} /runtime-assets/ \;

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Code stays root-owned and read-only to the service user; only .data (the notifier's .eml
# fallback when SMTP_URL is unset) is writable.
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /runtime-assets/services ./services
# /etc/ordermesh/identity is owned by node so the compose volume mounted there (empty on first use)
# takes that owner, and the one-shot identity service can write the dev CA and certificates into it.
RUN mkdir -p .data /etc/ordermesh/identity && chown node:node .data /etc/ordermesh/identity
USER node
EXPOSE 50051 50052 50053 8081 8082
CMD ["node", "dist/services/orders/main.js"]
