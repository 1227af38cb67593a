# Agent5 in a container, for those who still want one. Built from the same release
# profile as the bare-metal binary. (Not built on the development machine: it has no
# Docker engine.)
#   docker build -t agent5 .
#   docker run -p 3000:3000 -e AUTH_TOKEN=... -v agent5-data:/var/lib/agent5 agent5

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin agent5

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/agent5 --shell /usr/sbin/nologin agent5 \
    && install -d -o agent5 -g agent5 -m 0700 /var/lib/agent5 /var/lib/agent5/recordings
COPY --from=build /src/target/release/agent5 /usr/local/bin/agent5
COPY conf/agent5.toml /etc/agent5/agent5.toml
USER agent5
ENV PORT=3000
EXPOSE 3000 9464
VOLUME ["/var/lib/agent5"]
ENTRYPOINT ["/usr/local/bin/agent5", "serve", "--config", "/etc/agent5/agent5.toml", "--data-dir", "/var/lib/agent5", "--listen", "0.0.0.0:3000", "--metrics-listen", "0.0.0.0:9464"]
