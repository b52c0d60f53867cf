# One image for every Coalition service: the network server, the settlement worker, the console and the demo
# traffic (docker-compose.yml picks the command). Configuration comes from environment variables only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COALITION_DATA_DIR=/var/lib/coalition

RUN groupadd --system --gid 10001 coalition \
 && useradd --system --uid 10001 --gid coalition --home-dir /var/lib/coalition --create-home coalition

WORKDIR /opt/coalition
# The project with its pinned dependency set (constraints.txt: the same pins as the tests ran with).
COPY pyproject.toml constraints.txt README.md ./
COPY protos ./protos
COPY partners ./partners
COPY network ./network
COPY settlement ./settlement
COPY console ./console
COPY coalition ./coalition
RUN pip install -c constraints.txt . \
 && coalition --help >/dev/null

USER coalition
VOLUME ["/var/lib/coalition"]
# gRPC (network), Prometheus /metrics, the console, the member portal
EXPOSE 50051 9464 8501 8502
CMD ["coalition", "--help"]
