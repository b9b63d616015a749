"""A small GeoLite2-City compatible database for tests and the demo (the real one is the
user's to supply: MaxMind's licence does not allow shipping it)."""

from pathlib import Path

from mmdb_writer import MmdbF64, MMDBWriter
from netaddr import IPSet

NETWORKS = {
    "1.2.3.0/24": ("CN", "China", "Beijing", "Beijing", 39.9042, 116.4074),
    "8.8.8.0/24": ("US", "United States", "California", "Mountain View", 37.386, -122.0838),
    "2001:db8::/32": ("DE", "Germany", "Land Berlin", "Berlin", 52.52, 13.405),
}


def write_city_database(path: Path) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="test city database",
    )
    for network, (code, country, region, city, latitude, longitude) in NETWORKS.items():
        writer.insert_network(
            IPSet([network]),
            {
                "country": {"iso_code": code, "names": {"en": country}},
                "subdivisions": [{"names": {"en": region}}],
                "city": {"names": {"en": city}},
                "location": {"latitude": MmdbF64(latitude), "longitude": MmdbF64(longitude)},
            },
        )
    writer.to_db_file(str(path))
    return path
