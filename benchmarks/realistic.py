"""Documents shaped like a real shop's collections, for the compressed-backup scenario (h).

What a compressor meets in a production dump is mostly structure and text, not noise: the same
field names in every document, values drawn from small vocabularies (statuses, cities, product
names), people's names and e-mail addresses, dates a few seconds apart, ObjectIds whose leading
bytes barely change, and a little binary (hashes, UUIDs, thumbnails) that does not compress at
all. This module makes such documents, deterministically from a seed:

- customers: name-like and e-mail-like fields, a phone number, an address, loyalty and
  preference sub-documents, a tag array, a 32-byte password hash, sometimes a thumbnail;
- orders (most of the bytes): a customer reference and copy (denormalised, as shops do),
  1-6 line items copied from a product catalogue, totals, a shipping address, a payment
  sub-document, dates, sometimes a free-text note;
- events: a clickstream (type, path, user agent, referrer, a UUID session id, an IP);
- products: the catalogue itself, with descriptions and a small image blob.

Customers and products are drawn from pools (a few thousand of each, made once), because real
orders repeat the same customers and products; values follow skewed (Zipf-like) frequencies,
because real data has a few common values and a long tail. About 5-8% of the bytes are random
binary. docs/benchmarks.md describes the choices.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import bson
from bson import Binary, Int64, ObjectId
from bson.binary import UUID_SUBTYPE
from bson.datetime_ms import DatetimeMS

REVISION = 1
"""Bump whenever the generated documents change, so stale cached archives are not reused."""

_START_S = 1_735_689_600  # 2025-01-01T00:00:00Z


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _split(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Paul Emily Andrew "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy "
    "Stephanie Ronald Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy "
    "Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma Justin "
    "Nicole Scott Helen Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra "
    "Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry "
    "Diane Tyler Julie Aaron Joyce Jose Victoria Adam Kelly Nathan Christina Henry Lauren "
    "Zachary Joan Douglas Evelyn Peter Judith Kyle Megan Noah Andrea Ethan Cheryl Jeremy Hannah "
    "Walter Jacqueline Christian Martha Keith Gloria Roger Teresa Terry Ann Austin Sara Sean "
    "Madison Gerald Frances Carl Kathryn Harold Janice Dylan Jean Arthur Abigail Lawrence Alice "
    "Jordan Judy Jesse Sophia Bryan Grace Billy Denise Bruce Amber Gabriel Doris Joe Marilyn "
    "Logan Danielle Alan Beverly Juan Isabella Albert Theresa Willie Diana Elijah Natalie Wayne "
    "Brittany Randy Charlotte Vincent Marie Mason Kayla Roy Alexis Ralph Lori Bobby Alyssa "
    "Lukas Mia Jonas Lea Felix Hanna Leon Lena Paul Clara Elias Ida Louis Chloe Hugo Ines Mateo "
    "Lucia Pablo Sofia Giulia Marco Francesca Luca Aurora Matteo Ginevra Piotr Zofia Jakub Maja"
)
LAST_NAMES = _split(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook "
    "Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward "
    "Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez "
    "Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan "
    "Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
    "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera "
    "Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison "
    "Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker "
    "Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason "
    "Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox "
    "Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter "
    "Klein Wolf Schroeder Neumann Schwarz Zimmermann Braun Kruger Hofmann Hartmann Lange Werner "
    "Dubois Durand Leroy Moreau Simon Laurent Lefebvre Michel Rossi Russo Ferrari Esposito "
    "Bianchi Romano Colombo Ricci Marino Greco Nowak Kowalski Wisniewski Wojcik Kowalczyk"
)
MAIL_DOMAINS = (
    ("gmail.com", 40), ("outlook.com", 12), ("yahoo.com", 10), ("hotmail.com", 8),
    ("icloud.com", 7), ("gmx.de", 5), ("web.de", 4), ("proton.me", 3), ("orange.fr", 3),
    ("libero.it", 2), ("wp.pl", 2), ("aol.com", 2), ("mail.com", 1), ("example.org", 1),
)  # fmt: skip
CITIES = (
    ("Berlin", "DE", "10"), ("Hamburg", "DE", "20"), ("Munich", "DE", "80"),
    ("Cologne", "DE", "50"), ("Paris", "FR", "75"), ("Lyon", "FR", "69"),
    ("Marseille", "FR", "13"), ("Madrid", "ES", "28"), ("Barcelona", "ES", "08"),
    ("Lisbon", "PT", "11"), ("Rome", "IT", "00"), ("Milan", "IT", "20"), ("Vienna", "AT", "10"),
    ("Zurich", "CH", "80"), ("Amsterdam", "NL", "10"), ("Brussels", "BE", "10"),
    ("Dublin", "IE", "D0"), ("London", "GB", "EC"), ("Manchester", "GB", "M1"),
    ("Warsaw", "PL", "00"), ("Prague", "CZ", "11"), ("Copenhagen", "DK", "12"),
    ("Stockholm", "SE", "11"), ("Oslo", "NO", "01"), ("Helsinki", "FI", "00"),
    ("New York", "US", "10"), ("Chicago", "US", "60"), ("Austin", "US", "78"),
    ("Seattle", "US", "98"), ("Toronto", "CA", "M5"),
)  # fmt: skip
STREETS = (
    "Main Street",
    "Oak Avenue",
    "Park Road",
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Hauptstrasse",
    "Bahnhofstrasse",
    "Gartenweg",
    "Schulstrasse",
    "Rue de la Paix",
    "Rue Victor Hugo",
    "Avenue Jean Jaures",
    "Calle Mayor",
    "Gran Via",
    "Via Roma",
    "Corso Italia",
    "Ulica Polna",
    "Kings Road",
    "Queen Street",
    "Elm Street",
    "Maple Drive",
    "Cedar Lane",
    "Lake View",
    "Hillside Road",
    "Riverside Drive",
)
ADJECTIVES = _split(
    "Classic Premium Organic Compact Wireless Ergonomic Vintage Modern Rustic Deluxe Portable "
    "Lightweight Heavy-Duty Eco Slim Smart Handmade Waterproof Foldable Insulated"
)
MATERIALS = _split("Cotton Leather Steel Bamboo Oak Wool Linen Ceramic Glass Aluminium Silk Rubber")
NOUNS = (
    "T-Shirt",
    "Backpack",
    "Water Bottle",
    "Desk Lamp",
    "Headphones",
    "Notebook",
    "Mug",
    "Chair",
    "Jacket",
    "Sneakers",
    "Watch",
    "Wallet",
    "Blanket",
    "Cutting Board",
    "Phone Case",
    "Keyboard",
    "Mouse Pad",
    "Scarf",
    "Umbrella",
    "Sunglasses",
    "Travel Bag",
    "Candle",
    "Plant Pot",
    "Teapot",
    "Frying Pan",
    "Yoga Mat",
    "Bike Light",
    "Hoodie",
    "Socks",
)
CATEGORIES = _split(
    "apparel accessories home kitchen electronics office outdoor sports beauty garden toys books"
)
COLOURS = _split("black white grey navy red green blue beige brown pink yellow olive")
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "one-size")
ORDER_STATUSES = (
    ("delivered", 55), ("shipped", 14), ("paid", 9), ("pending", 6), ("cancelled", 5),
    ("returned", 4), ("refunded", 3), ("processing", 4),
)  # fmt: skip
PAYMENT_METHODS = (("card", 60), ("paypal", 20), ("klarna", 8), ("bank_transfer", 6),
                   ("apple_pay", 4), ("gift_card", 2))  # fmt: skip
CARD_BRANDS = ("visa", "mastercard", "amex", "maestro")
CHANNELS = (("web", 55), ("ios", 20), ("android", 18), ("store", 5), ("phone", 2))
CURRENCIES = {"DE": "EUR", "FR": "EUR", "ES": "EUR", "PT": "EUR", "IT": "EUR", "AT": "EUR",
              "NL": "EUR", "BE": "EUR", "IE": "EUR", "FI": "EUR", "CH": "CHF", "GB": "GBP",
              "PL": "PLN", "CZ": "CZK", "DK": "DKK", "SE": "SEK", "NO": "NOK", "US": "USD",
              "CA": "CAD"}  # fmt: skip
CARRIERS = ("DHL", "UPS", "DPD", "GLS", "Hermes", "FedEx", "La Poste", "Royal Mail", "USPS")
TAGS = ("gift", "first-order", "vip", "newsletter", "promo-spring", "promo-summer",
        "black-friday", "wholesale", "b2b", "express", "eco-packaging", "repeat")  # fmt: skip
EVENT_TYPES = (("page_view", 50), ("product_view", 20), ("add_to_cart", 8), ("search", 8),
               ("remove_from_cart", 3), ("checkout_start", 3), ("purchase", 2),
               ("login", 4), ("logout", 2))  # fmt: skip
PATHS = ("/", "/cart", "/checkout", "/account", "/account/orders", "/search", "/help/shipping",
         "/help/returns", "/category/{c}", "/product/{s}", "/blog/{c}-guide")  # fmt: skip
REFERRERS = (("", 40), ("https://www.google.com/", 30), ("https://www.bing.com/", 5),
             ("https://www.instagram.com/", 8), ("https://www.facebook.com/", 6),
             ("https://t.co/", 3), ("https://newsletter.example-shop.com/", 8))  # fmt: skip
USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 25),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.6478.71 Mobile Safari/537.36", 15),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", 12),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", 8),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/125.0.0.0 Safari/537.36", 4),
    ("ExampleShop/5.12.1 (iOS 17.5; iPhone15,2)", 4),
    ("ExampleShop/5.11.0 (Android 14; SM-S918B)", 2),
)  # fmt: skip
WORDS = _split(
    "the a and to of for with is on it this that please thanks you we your our my in at by "
    "delivery package door leave neighbour ring bell before after morning afternoon evening "
    "gift wrap note birthday present size colour fits great quality fast shipping box damaged "
    "replace return exchange refund item order again call when arrive floor apartment building "
    "back side entrance code reception office hours weekend only monday friday soft comfortable "
    "perfect recommend love nice good small large bigger smaller price value described expected"
)
LANGUAGES = (("en", 40), ("de", 20), ("fr", 12), ("es", 8), ("it", 7), ("pl", 5), ("nl", 4),
             ("sv", 2), ("pt", 2))  # fmt: skip
TIERS = (("none", 50), ("bronze", 25), ("silver", 15), ("gold", 8), ("platinum", 2))


class FastRandom(random.Random):
    """random.Random with the small-integer draws done by scaling random(): about 3x faster.

    The stock randrange draws bits until it gets a value below the bound (exact, and slow in a
    loop run millions of times); scaling a double is off by at most 2**-53 per value, which
    does not matter to test data.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]


def _pool(weighted: Sequence[tuple[Any, int]]) -> list[Any]:
    """A list in which each value appears as often as its weight: a uniform pick is skewed."""
    return [value for value, weight in weighted for _ in range(weight)]


def _zipf_pool(values: Sequence[Any], rng: random.Random, *, size: int = 4096) -> list[Any]:
    """A pick list with Zipf-like frequencies (rank r drawn about 1/r as often) over `values`."""
    order = list(values)
    rng.shuffle(order)
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(order))]
    return rng.choices(order, weights, k=size)


class Shop:
    """The pools every document draws from, and one maker per collection."""

    def __init__(self, rng: random.Random, *, customers: int = 6000, products: int = 1500) -> None:
        self.rng = rng = FastRandom(rng.getrandbits(64))
        self.clock_s = _START_S
        self.counter = rng.randrange(1 << 24)
        self.machine = rng.randbytes(5)
        self.first = _zipf_pool(FIRST_NAMES, rng)
        self.last = _zipf_pool(LAST_NAMES, rng)
        self.cities = _zipf_pool(CITIES, rng)
        self.domains = _pool(MAIL_DOMAINS)
        self.statuses = _pool(ORDER_STATUSES)
        self.payments = _pool(PAYMENT_METHODS)
        self.channels = _pool(CHANNELS)
        self.event_types = _pool(EVENT_TYPES)
        self.referrers = _pool(REFERRERS)
        self.agents = _pool(USER_AGENTS)
        self.languages = _pool(LANGUAGES)
        self.tiers = _pool(TIERS)
        self.words = _zipf_pool(WORDS, rng, size=8192)
        self.products = [self._product(i) for i in range(products)]
        self.product_picks = _zipf_pool(range(products), rng, size=16384)
        self.customers = [self._customer(i) for i in range(customers)]
        self.customer_picks = _zipf_pool(range(customers), rng, size=16384)

    # ------------------------------------------------------------------ building blocks

    def object_id(self) -> ObjectId:
        """Like a driver's: a timestamp that creeps forward, a fixed machine part, a counter."""
        self.counter = (self.counter + 1) & 0xFFFFFF
        return ObjectId(
            self.clock_s.to_bytes(4, "big") + self.machine + self.counter.to_bytes(3, "big")
        )

    def tick(self) -> int:
        """Milliseconds since the epoch for a new document: a few seconds after the last one."""
        self.clock_s += self.rng.randrange(4)
        return self.clock_s * 1000 + self.rng.randrange(1000)

    def sentence(self, low: int, high: int) -> str:
        rng, words = self.rng, self.words
        text = " ".join(words[rng.randrange(len(words))] for _ in range(rng.randint(low, high)))
        return text[:1].upper() + text[1:] + "."

    def address(self) -> dict[str, Any]:
        rng = self.rng
        city, country, prefix = self.cities[rng.randrange(len(self.cities))]
        return {
            "street": f"{rng.choice(STREETS)} {rng.randint(1, 240)}",
            "city": city,
            "postcode": f"{prefix}{rng.randrange(1000):03d}",
            "country": country,
        }

    def _product(self, i: int) -> dict[str, Any]:
        rng = self.rng
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"
        category = rng.choice(CATEGORIES)
        return {
            "_id": self.object_id(),
            "sku": f"SKU-{category[:3].upper()}-{10000 + i}",
            "name": name,
            "category": category,
            "price": round(rng.uniform(3, 250), 2) - 0.01,
            "colour": rng.choice(COLOURS),
            "size": rng.choice(SIZES),
        }

    def _customer(self, i: int) -> dict[str, Any]:
        rng = self.rng
        first = self.first[rng.randrange(len(self.first))]
        last = self.last[rng.randrange(len(self.last))]
        style = rng.randrange(4)
        local = (
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{first}{rng.randint(1, 99)}",
            f"{last}.{first[0]}{rng.randint(70, 99)}",
        )[style].lower()
        domain = self.domains[rng.randrange(len(self.domains))]
        return {
            "_id": self.object_id(),
            "name": f"{first} {last}",
            "first": first,
            "last": last,
            "email": f"{local}@{domain}",
            "address": self.address(),
        }

    # ------------------------------------------------------------------ documents

    def customer_document(self, n: int) -> bytes:
        rng = self.rng
        base = self.customers[n % len(self.customers)] if n < len(self.customers) else None
        person = base or self._customer(n)
        created = self.tick() - rng.randrange(400 * 86_400_000)
        document: dict[str, Any] = {
            "_id": person["_id"] if base else self.object_id(),
            "firstName": person["first"],
            "lastName": person["last"],
            "email": person["email"],
            "emailVerified": rng.random() < 0.85,
            "phone": f"+{rng.choice((1, 33, 34, 39, 44, 48, 49))} {rng.randint(20, 99)} "
            f"{rng.randrange(10**7):07d}",
            # Born between 1940 and 2006, at midnight UTC, as forms store dates.
            "birthDate": DatetimeMS(rng.randint(-10957, 13149) * 86_400_000),
            "address": person["address"],
            "createdAt": DatetimeMS(created),
            "lastLoginAt": DatetimeMS(created + rng.randrange(300 * 86_400_000)),
            "loyalty": {
                "tier": self.tiers[rng.randrange(len(self.tiers))],
                "points": rng.randrange(12000),
            },
            "preferences": {
                "newsletter": rng.random() < 0.4,
                "language": self.languages[rng.randrange(len(self.languages))],
                "currency": CURRENCIES[person["address"]["country"]],
            },
            "tags": rng.sample(TAGS, rng.randrange(3)),
            "passwordHash": Binary(rng.randbytes(32)),
            "schemaVersion": 3,
        }
        if rng.random() < 0.06:
            # A small JPEG thumbnail: compressed already, so as good as random to a compressor.
            document["avatar"] = Binary(rng.randbytes(rng.randint(400, 1600)))
        return bson.encode(document)

    def order_document(self, n: int) -> bytes:
        rng = self.rng
        at = self.tick()
        person = self.customers[self.customer_picks[rng.randrange(len(self.customer_picks))]]
        country = person["address"]["country"]
        currency = CURRENCIES[country]
        items = []
        subtotal = 0.0
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
            product = self.products[self.product_picks[rng.randrange(len(self.product_picks))]]
            quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
            subtotal += product["price"] * quantity
            items.append(
                {
                    "productId": product["_id"],
                    "sku": product["sku"],
                    "name": product["name"],
                    "quantity": quantity,
                    "unitPrice": product["price"],
                    "options": {"colour": product["colour"], "size": product["size"]},
                }
            )
        shipping = rng.choice((0.0, 0.0, 4.95, 5.9, 9.99))
        tax = round(subtotal * 0.19, 2)
        status = self.statuses[rng.randrange(len(self.statuses))]
        method = self.payments[rng.randrange(len(self.payments))]
        payment: dict[str, Any] = {
            "method": method,
            "transactionId": f"tx_{rng.getrandbits(64):016x}",
            "capturedAt": DatetimeMS(at + rng.randrange(5000, 90000)),
        }
        if method == "card":
            last4 = f"{rng.randrange(10**4):04d}"
            payment["card"] = {"brand": rng.choice(CARD_BRANDS), "last4": last4}
        document: dict[str, Any] = {
            "_id": self.object_id(),
            "orderNumber": f"ORD-2025-{n + 100000:07d}",
            "customerId": person["_id"],
            "customer": {"name": person["name"], "email": person["email"]},
            "status": status,
            "channel": self.channels[rng.randrange(len(self.channels))],
            "createdAt": DatetimeMS(at),
            "updatedAt": DatetimeMS(at + rng.randrange(3 * 86_400_000)),
            "items": items,
            "totals": {
                "subtotal": round(subtotal, 2),
                "shipping": shipping,
                "tax": tax,
                "total": round(subtotal + shipping + tax, 2),
                "currency": currency,
            },
            "shippingAddress": person["address"] if rng.random() < 0.8 else self.address(),
            "payment": payment,
        }
        if status in ("shipped", "delivered", "returned"):
            document["shipment"] = {
                "carrier": rng.choice(CARRIERS),
                "trackingNumber": f"{rng.randrange(10**12):012d}",
                "shippedAt": DatetimeMS(at + rng.randrange(86_400_000, 3 * 86_400_000)),
            }
        if rng.random() < 0.3:
            document["tags"] = rng.sample(TAGS, rng.randint(1, 3))
        if rng.random() < 0.2:
            document["note"] = self.sentence(4, 24)
        if rng.random() < 0.1:
            document["giftMessage"] = self.sentence(6, 30)
        return bson.encode(document)

    def event_document(self, n: int) -> bytes:
        rng = self.rng
        at = self.tick()
        kind = self.event_types[rng.randrange(len(self.event_types))]
        product = self.products[self.product_picks[rng.randrange(len(self.product_picks))]]
        path = rng.choice(PATHS).format(c=product["category"], s=product["sku"].lower())
        person = self.customers[self.customer_picks[rng.randrange(len(self.customer_picks))]]
        document: dict[str, Any] = {
            "_id": self.object_id(),
            "type": kind,
            "ts": DatetimeMS(at),
            "userId": person["_id"] if rng.random() < 0.6 else None,
            "sessionId": Binary(rng.randbytes(16), UUID_SUBTYPE),
            "path": path,
            "referrer": self.referrers[rng.randrange(len(self.referrers))],
            "userAgent": self.agents[rng.randrange(len(self.agents))],
            "ip": f"{rng.choice((81, 84, 91, 109, 176, 185, 212))}.{rng.randrange(256)}."
            f"{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "durationMs": Int64(int(rng.expovariate(1 / 1800))),
        }
        if kind in ("product_view", "add_to_cart", "remove_from_cart"):
            document["properties"] = {"sku": product["sku"], "price": product["price"]}
        elif kind == "search":
            document["properties"] = {
                "query": f"{rng.choice(COLOURS)} {product['name'].split()[-1].lower()}",
                "results": rng.randrange(120),
            }
        return bson.encode(document)

    def product_document(self, n: int) -> bytes:
        rng = self.rng
        product = self.products[n % len(self.products)]
        document = {
            **product,
            "_id": product["_id"] if n < len(self.products) else self.object_id(),
            "description": " ".join(self.sentence(6, 18) for _ in range(rng.randint(1, 4))),
            "stock": {"available": rng.randrange(500), "reserved": rng.randrange(20)},
            "attributes": {
                "weightGrams": rng.randrange(50, 5000),
                "material": product["name"].split()[1],
                "origin": rng.choice(("CN", "DE", "IT", "PT", "VN", "IN", "TR", "PL")),
            },
            "categories": [product["category"], rng.choice(CATEGORIES)],
            "rating": {"average": round(rng.uniform(2.5, 5), 1), "count": rng.randrange(900)},
            "thumbnail": Binary(rng.randbytes(rng.randint(600, 1800))),
            "updatedAt": DatetimeMS(self.tick()),
        }
        return bson.encode(document)


def makers(rng: random.Random) -> dict[str, Callable[[int], bytes]]:
    """One document maker per collection, sharing one shop (its pools and its clock)."""
    shop = Shop(rng)
    return {
        "orders": shop.order_document,
        "customers": shop.customer_document,
        "events": shop.event_document,
        "products": shop.product_document,
    }
