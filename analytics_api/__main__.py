"""`python -m analytics_api`: serve the analytics API with uvicorn
(`ANALYTICS_API_HOST` / `ANALYTICS_API_PORT`, default 127.0.0.1:8200)."""

import os

import uvicorn

from analytics_api.app import create_app

if __name__ == "__main__":
    uvicorn.run(
        create_app(),
        host=os.environ.get("ANALYTICS_API_HOST", "127.0.0.1"),
        port=int(os.environ.get("ANALYTICS_API_PORT", "8200")),
    )
