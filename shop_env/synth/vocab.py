"""Static word lists for the synthetic store: categories, product types, brands, review phrases.

All brand names are invented. Each :class:`ProductType` describes one kind of product
(``"wireless earbuds"``) with the words shoppers use for it, its brands, a typical price,
the attributes that vary between products, the options a buyer picks on the product page,
selling-point phrases for titles, and the aspects reviewers talk about.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """One kind of product in one category."""

    category: str
    name: str                      # singular noun phrase used in titles and queries
    synonyms: tuple[str, ...]      # other ways shoppers phrase it in a search
    brands: tuple[str, ...]
    price: float                   # median price in dollars
    attrs: tuple[tuple[str, tuple[str, ...]], ...]    # attribute -> possible values
    options: tuple[tuple[str, tuple[str, ...]], ...]  # option dimension -> choices
    features: tuple[str, ...]      # selling points that go into titles / bullets
    aspects: tuple[str, ...]       # what reviews talk about


COLORS = ("Black", "White", "Navy", "Gray", "Red", "Blue", "Green", "Beige", "Pink")
APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")


def _t(category: str, name: str, synonyms: str, brands: str, price: float, attrs: dict[str, str],
       options: dict[str, tuple[str, ...] | str], features: str, aspects: str) -> ProductType:
    split = lambda s: tuple(x.strip() for x in s.split("|") if x.strip())  # noqa: E731
    return ProductType(
        category=category, name=name, synonyms=split(synonyms), brands=split(brands), price=price,
        attrs=tuple((k, split(v)) for k, v in attrs.items()),
        options=tuple((k, v if isinstance(v, tuple) else split(v)) for k, v in options.items()),
        features=split(features), aspects=split(aspects),
    )


E, K, C, S, B, O, T, G, P, F = ("Electronics", "Home & Kitchen", "Clothing", "Shoes", "Beauty & Personal Care",
                                "Sports & Outdoors", "Toys & Games", "Office Products", "Pet Supplies", "Grocery")
CATEGORIES: tuple[str, ...] = (E, K, C, S, B, O, T, G, P, F)

PRODUCT_TYPES: tuple[ProductType, ...] = (
    _t(E, "wireless earbuds", "bluetooth earbuds|earphones wireless|true wireless earbuds",
       "Auralux|Sonique|Brevo|Kestrel Audio|Tunewell|Nixa", 49, {"battery": "20H|30H|40H|50H"},
       {"Color": COLORS[:4]}, "Noise Cancelling|Bluetooth 5.3|IPX7 Waterproof|Deep Bass|Touch Control",
       "sound quality|battery life|fit|connection|case"),
    _t(E, "over-ear headphones", "headphones over ear|noise cancelling headphones|studio headphones",
       "Auralux|Sonique|Brevo|Tunewell|Halden", 89, {"type": "Wireless|Wired"},
       {"Color": COLORS[:3]}, "Active Noise Cancelling|Foldable|Hi-Res Audio|Memory Foam Ear Cups",
       "comfort|sound quality|noise cancelling|build quality|battery life"),
    _t(E, "bluetooth speaker", "portable speaker|wireless speaker|outdoor speaker",
       "Sonique|Boomr|Kestrel Audio|Tunewell|Vexo", 45, {"power": "10W|20W|30W|40W"},
       {"Color": COLORS[:5]}, "Waterproof|360 Sound|24H Playtime|Stereo Pairing|Rugged",
       "loudness|bass|battery life|durability|size"),
    _t(E, "power bank", "portable charger|battery pack|phone power bank",
       "Voltix|Chargio|Ampere Labs|Nixa|Zentra", 29, {"capacity": "10000mAh|20000mAh|26800mAh"},
       {"Color": COLORS[:2]}, "USB-C PD|Fast Charging|Slim|LED Display|3 Outputs",
       "charging speed|capacity|weight|build quality|cable"),
    _t(E, "smart watch", "smartwatch|fitness tracker watch|activity tracker",
       "Zentra|Pulsera|Nixa|Orbix|Vexo", 119, {"display": "1.4 inch|1.7 inch|1.9 inch"},
       {"Band Color": COLORS[:4]}, "Heart Rate Monitor|GPS|Sleep Tracking|Waterproof|7-Day Battery",
       "battery life|accuracy|screen|app|strap"),
    _t(K, "non-stick frying pan", "frying pan|nonstick skillet|fry pan",
       "Cookwell|Panora|Ironleaf|Saute & Co|Hearthly", 34, {"size": "8 inch|10 inch|12 inch"},
       {"Size": "8 inch|10 inch|12 inch"}, "Granite Coating|Induction Compatible|PFOA Free|Oven Safe",
       "non-stick coating|heat distribution|handle|cleaning|weight"),
    _t(K, "coffee maker", "drip coffee machine|coffee machine|12 cup coffee maker",
       "Brewmont|Morning Co|Cafetto|Hearthly|Kettleby", 69, {"capacity": "5 Cup|10 Cup|12 Cup"},
       {"Color": COLORS[:3]}, "Programmable|Auto Shut-Off|Keep Warm|Reusable Filter|Thermal Carafe",
       "taste|brewing speed|ease of use|cleaning|noise"),
    _t(K, "blender", "smoothie blender|countertop blender|personal blender",
       "Vortana|Blendix|Cookwell|Kettleby|Morning Co", 59, {"power": "600W|1000W|1200W|1500W"},
       {"Color": COLORS[:3]}, "BPA Free|Crushes Ice|Travel Cups|Pulse Function|Self Cleaning",
       "power|noise|smoothie texture|cleaning|jar"),
    _t(K, "air fryer", "airfryer|oil free fryer|air fryer oven",
       "Crispo|Vortana|Cookwell|Hearthly|Ovenna", 89, {"capacity": "4 Qt|5.8 Qt|8 Qt"},
       {"Color": COLORS[:2]}, "Digital Touchscreen|Dishwasher Safe Basket|8 Presets|Shake Reminder",
       "crispiness|capacity|cleaning|noise|controls"),
    _t(K, "bath towel set", "bath towels|cotton towels|towel set",
       "Softhaven|Linenly|Cotton Cove|Hearthly|Plush & Co", 39, {"pieces": "4 Piece|6 Piece|8 Piece"},
       {"Color": COLORS}, "100% Cotton|Quick Dry|Highly Absorbent|Hotel Quality",
       "softness|absorbency|color|shedding|thickness"),
    _t(C, "men's crew neck t-shirt", "mens t shirt|mens tee|cotton t shirt men",
       "Northline|Basics Lab|Urban Thread|Fieldmark|Coastal Co", 19, {"fit": "Regular Fit|Slim Fit"},
       {"Color": COLORS[:6], "Size": APPAREL_SIZES}, "Cotton|Breathable|Tagless|Pack of 3",
       "fit|fabric|shrinkage|color|stitching"),
    _t(C, "women's hoodie", "womens hoodie|pullover hoodie women|sweatshirt women",
       "Urban Thread|Northline|Cozyfit|Fieldmark|Lumen Wear", 35, {"material": "Fleece|Cotton Blend"},
       {"Color": COLORS[:6], "Size": APPAREL_SIZES}, "Oversized|Kangaroo Pocket|Soft Fleece|Drawstring",
       "warmth|fit|fabric|color|hood"),
    _t(C, "men's slim jeans", "mens jeans|slim fit jeans men|denim jeans",
       "Denimworks|Northline|Urban Thread|Ridge & Co|Basics Lab", 45, {"wash": "Dark Wash|Light Wash|Black"},
       {"Size": ("30x30", "32x30", "32x32", "34x32", "36x32")}, "Stretch|Slim Fit|5 Pocket|Classic",
       "fit|stretch|length|color|quality"),
    _t(C, "rain jacket", "waterproof jacket|raincoat|lightweight rain jacket",
       "Stormline|Fieldmark|Ridge & Co|Trailcrest|Northline", 69, {"gender": "Men's|Women's"},
       {"Color": COLORS[:5], "Size": APPAREL_SIZES[1:]}, "Waterproof|Packable|Hooded|Windproof|Breathable",
       "waterproofing|fit|weight|hood|zipper"),
    _t(C, "athletic socks", "running socks|ankle socks|cushioned socks",
       "Basics Lab|Stridewell|Fieldmark|Cozyfit|Pacer", 15, {"pack": "6 Pairs|10 Pairs|12 Pairs"},
       {"Color": COLORS[:3], "Size": ("S", "M", "L")}, "Cushioned|Moisture Wicking|Arch Support|No Show",
       "comfort|durability|fit|cushioning|thickness"),
    _t(S, "running shoes", "running shoes men|running sneakers|road running shoes",
       "Stridewell|Pacer|Velocity|Trailcrest|Aerostep", 79, {"gender": "Men's|Women's"},
       {"Color": COLORS[:5], "Size": SHOE_SIZES}, "Lightweight|Breathable Mesh|Cushioned|Wide Toe Box",
       "comfort|fit|cushioning|durability|grip"),
    _t(S, "hiking boots", "waterproof hiking boots|trail boots|hiking shoes",
       "Trailcrest|Ridge & Co|Summitry|Fieldmark|Stormline", 109, {"gender": "Men's|Women's"},
       {"Color": ("Brown", "Black", "Gray"), "Size": SHOE_SIZES}, "Waterproof|Ankle Support|Vibram Sole|Leather",
       "waterproofing|comfort|ankle support|break-in|grip"),
    _t(S, "house slippers", "slippers|memory foam slippers|fuzzy slippers",
       "Cozyfit|Softhaven|Plush & Co|Homestep|Lumen Wear", 24, {"gender": "Men's|Women's"},
       {"Color": COLORS[:4], "Size": ("S", "M", "L", "XL")}, "Memory Foam|Non-Slip Sole|Plush Lining|Washable",
       "comfort|warmth|sole|size|durability"),
    _t(S, "sandals", "summer sandals|slide sandals|walking sandals",
       "Aerostep|Coastal Co|Homestep|Pacer|Solano", 32, {"gender": "Men's|Women's"},
       {"Color": COLORS[:4], "Size": SHOE_SIZES}, "Arch Support|Adjustable Straps|Waterproof|Cushioned Footbed",
       "comfort|arch support|straps|size|durability"),
    _t(S, "kids sneakers", "kids shoes|boys sneakers|girls sneakers",
       "Pacer|Tinystep|Aerostep|Stridewell|Velocity", 35, {"closure": "Hook and Loop|Laces"},
       {"Color": COLORS[:5], "Size": ("10", "11", "12", "13", "1", "2", "3")}, "Light Up|Lightweight|Easy On",
       "durability|fit|comfort|looks|closure"),
    _t(B, "shampoo", "hair shampoo|sulfate free shampoo|moisturizing shampoo",
       "Lustra|Botanica Lane|Puremist|Velvia|Kinder Skin", 14, {"hair type": "Dry Hair|Oily Hair|Curly Hair|All Hair Types"},
       {"Size": ("12 fl oz", "16 fl oz", "32 fl oz")}, "Sulfate Free|Argan Oil|Paraben Free|Color Safe",
       "scent|lather|softness|scalp|price"),
    _t(B, "face moisturizer", "moisturizer for face|daily face cream|facial moisturizer",
       "Kinder Skin|Puremist|Dermaclar|Velvia|Botanica Lane", 22, {"skin type": "Dry Skin|Oily Skin|Sensitive Skin"},
       {"Size": ("1.7 oz", "3.4 oz")}, "Hyaluronic Acid|SPF 30|Fragrance Free|Non-Comedogenic",
       "hydration|texture|scent|breakouts|absorption"),
    _t(B, "sunscreen", "sunscreen spf 50|sun cream|mineral sunscreen",
       "Solano|Dermaclar|Puremist|Kinder Skin|Coastal Co", 16, {"spf": "SPF 30|SPF 50|SPF 70"},
       {"Size": ("3 oz", "6 oz")}, "Water Resistant|Reef Safe|Broad Spectrum|Non-Greasy",
       "white cast|greasiness|scent|protection|texture"),
    _t(B, "electric toothbrush", "sonic toothbrush|rechargeable toothbrush|electric tooth brush",
       "Dentiq|Brightly|Sonicor|Puremist|Orbix", 49, {"modes": "3 Modes|4 Modes|5 Modes"},
       {"Color": COLORS[:3]}, "Rechargeable|2 Minute Timer|Travel Case|8 Brush Heads",
       "cleaning|battery life|brush heads|noise|timer"),
    _t(B, "hair dryer", "blow dryer|ionic hair dryer|travel hair dryer",
       "Velvia|Lustra|Airelle|Sonicor|Brightly", 45, {"power": "1600W|1875W|2000W"},
       {"Color": COLORS[:3]}, "Ionic|Diffuser|Fast Drying|Cool Shot|Foldable",
       "drying speed|noise|weight|heat settings|frizz"),
    _t(O, "yoga mat", "exercise mat|non slip yoga mat|thick yoga mat",
       "Zenflow|Corebalance|Flexa|Trailcrest|Pacer", 29, {"thickness": "4mm|6mm|10mm"},
       {"Color": COLORS[:6]}, "Non Slip|Extra Thick|Carrying Strap|Eco Friendly TPE",
       "grip|thickness|smell|durability|cushioning"),
    _t(O, "insulated water bottle", "water bottle|stainless steel water bottle|thermos bottle",
       "Hydrant|Chillwell|Summitry|Flexa|Trailcrest", 25, {"capacity": "20 oz|32 oz|40 oz"},
       {"Color": COLORS[:6]}, "Vacuum Insulated|Leak Proof|Straw Lid|BPA Free|Dishwasher Safe",
       "insulation|leaks|lid|size|durability"),
    _t(O, "adjustable dumbbells", "dumbbells|dumbbell set|weights for home",
       "Ironforge|Corebalance|Liftlab|Flexa|Summitry", 129, {"max weight": "25 lb|52.5 lb|90 lb"},
       {"Weight": ("25 lb", "52.5 lb", "90 lb")}, "Quick Adjust|Compact|Anti Slip Grip|With Tray",
       "adjustment|build quality|grip|size|value"),
    _t(O, "camping tent", "tent|2 person tent|backpacking tent",
       "Trailcrest|Summitry|Campora|Stormline|Ridge & Co", 119, {"capacity": "2 Person|4 Person|6 Person"},
       {"Color": ("Green", "Orange", "Gray")}, "Waterproof|Easy Setup|Rainfly|Lightweight",
       "setup|waterproofing|space|weight|ventilation"),
    _t(O, "hiking backpack", "backpack|daypack|travel backpack",
       "Campora|Trailcrest|Summitry|Northline|Ridge & Co", 59, {"volume": "20L|30L|40L|50L"},
       {"Color": COLORS[:5]}, "Water Resistant|Laptop Sleeve|Hydration Compatible|Ventilated Back",
       "comfort|pockets|durability|straps|size"),
    _t(T, "building blocks set", "building bricks|construction toy|building blocks kids",
       "Brickly|Playform|Tinkertot|Funforge|Kidora", 39, {"pieces": "300 Pieces|500 Pieces|1000 Pieces"},
       {"Theme": ("City", "Space", "Castle")}, "STEM|Compatible with Major Brands|Storage Box|Ages 6+",
       "fun|instructions|piece quality|box|value"),
    _t(T, "board game", "family board game|strategy game|party game",
       "Gamewright Co|Tabletop Ten|Funforge|Meeple Hill|Kidora", 29, {"players": "2-4 Players|2-6 Players|3-8 Players"},
       {"Edition": ("Standard", "Deluxe")}, "Family Game Night|Strategy|Ages 8+|Quick to Learn",
       "fun|rules|replay value|components|length"),
    _t(T, "jigsaw puzzle", "puzzle 1000 pieces|puzzles for adults|jigsaw",
       "Puzzlecraft|Meeple Hill|Tinkertot|Playform|Kidora", 18, {"pieces": "500 Pieces|1000 Pieces|1500 Pieces"},
       {"Design": ("Landscape", "Animals", "Art")}, "Thick Pieces|Poster Included|Anti Glare|Gift",
       "fit of pieces|image quality|difficulty|dust|box"),
    _t(T, "plush toy", "stuffed animal|plush animal|soft toy",
       "Cuddlebug|Kidora|Softhaven|Plush & Co|Tinkertot", 17, {"size": "8 inch|12 inch|18 inch"},
       {"Animal": ("Bear", "Bunny", "Dog", "Unicorn")}, "Super Soft|Washable|Gift for Kids|Hypoallergenic",
       "softness|size|stitching|looks|safety"),
    _t(T, "remote control car", "rc car|rc truck|remote control truck",
       "Turbokid|Funforge|Playform|Racerly|Vexo", 49, {"scale": "1:16|1:18|1:12"},
       {"Color": ("Red", "Blue", "Green")}, "All Terrain|2.4GHz|Rechargeable Batteries|High Speed",
       "speed|battery life|durability|control range|fun"),
    _t(G, "spiral notebook", "notebook|college ruled notebook|journal",
       "Paperly|Inkwell|Scribe & Co|Officio|Notara", 12, {"ruling": "College Ruled|Wide Ruled|Dot Grid"},
       {"Pack": ("1 Pack", "3 Pack", "5 Pack")}, "100 Sheets|Perforated|Thick Paper|Durable Cover",
       "paper quality|binding|size|ink bleed|cover"),
    _t(G, "gel pens", "pens|gel ink pens|black pens",
       "Inkwell|Scribe & Co|Paperly|Notara|Officio", 11, {"tip": "0.5mm|0.7mm|1.0mm"},
       {"Ink Color": ("Black", "Blue", "Assorted")}, "Quick Dry|Smooth Writing|Retractable|Comfort Grip",
       "smoothness|smudging|ink life|grip|clicking"),
    _t(G, "led desk lamp", "desk lamp|reading lamp|office lamp",
       "Lumen Wear|Brightly|Officio|Lampwise|Orbix", 32, {"features": "USB Charging Port|Wireless Charger|Clamp"},
       {"Color": COLORS[:2]}, "Dimmable|Eye Caring|5 Color Modes|Touch Control|Timer",
       "brightness|stability|controls|flicker|looks"),
    _t(G, "ergonomic office chair", "office chair|desk chair|computer chair",
       "Sitwell|Officio|Postura|Ergomax|Halden", 179, {"back": "Mesh Back|Leather Back"},
       {"Color": COLORS[:3]}, "Lumbar Support|Adjustable Armrests|Headrest|Swivel",
       "comfort|assembly|lumbar support|build quality|wheels"),
    _t(G, "stapler", "desk stapler|heavy duty stapler|office stapler",
       "Officio|Scribe & Co|Paperly|Notara|Staplix", 13, {"capacity": "20 Sheet|25 Sheet|40 Sheet"},
       {"Color": COLORS[:3]}, "Jam Free|Staples Included|Non Slip Base|Compact",
       "jamming|capacity|build quality|ease of use|size"),
    _t(P, "dry dog food", "dog food|grain free dog food|puppy food",
       "Pawprime|Barkley Farms|Canido|Tailwise|Wholesome Paws", 39, {"formula": "Chicken & Rice|Salmon|Lamb|Grain Free"},
       {"Size": ("5 lb", "15 lb", "30 lb")}, "High Protein|No Fillers|Real Meat First|Vet Recommended",
       "my dog liked it|ingredients|digestion|kibble size|price"),
    _t(P, "cat litter", "clumping cat litter|unscented cat litter|kitty litter",
       "Whiskerly|Felino|Tailwise|Purrfect Co|Pawprime", 19, {"scent": "Unscented|Lavender|Fresh Scent"},
       {"Size": ("10 lb", "20 lb", "40 lb")}, "Clumping|Odor Control|Low Dust|Flushable",
       "odor control|dust|clumping|tracking|weight"),
    _t(P, "dog leash", "leash for dogs|retractable leash|rope leash",
       "Canido|Tailwise|Barkley Farms|Leashly|Pawprime", 16, {"length": "5 ft|6 ft|16 ft"},
       {"Color": COLORS[:5]}, "Reflective|Padded Handle|Heavy Duty|Tangle Free",
       "strength|handle|length|clip|looks"),
    _t(P, "cat tree", "cat tower|cat condo|cat scratching tree",
       "Felino|Whiskerly|Purrfect Co|Tailwise|Catnap Co", 69, {"height": "34 inch|52 inch|68 inch"},
       {"Color": ("Beige", "Gray", "Brown")}, "Sisal Scratching Posts|Hammock|Condo|Sturdy Base",
       "stability|assembly|my cats use it|size|material"),
    _t(P, "orthopedic dog bed", "dog bed|large dog bed|memory foam dog bed",
       "Pawprime|Canido|Softhaven|Barkley Farms|Restpaw", 55, {"size": "Medium|Large|X-Large"},
       {"Color": COLORS[:3]}, "Memory Foam|Washable Cover|Waterproof Liner|Non Slip Bottom",
       "comfort|size|cover|foam|washing"),
    _t(F, "whole bean coffee", "coffee beans|dark roast coffee|espresso beans",
       "Roastery Row|Morning Co|Cafetto|Highland Bean|Brewmont", 15, {"roast": "Light Roast|Medium Roast|Dark Roast"},
       {"Size": ("12 oz", "2 lb", "5 lb")}, "Arabica|Fair Trade|Organic|Small Batch",
       "flavor|freshness|aroma|bitterness|value"),
    _t(F, "green tea bags", "green tea|organic green tea|matcha tea",
       "Teagarden|Leaf & Lotus|Zenflow|Highland Bean|Puretea", 9, {"flavor": "Original|Jasmine|Mint|Lemon"},
       {"Count": ("20 Count", "40 Count", "100 Count")}, "Organic|Antioxidants|Individually Wrapped|Non GMO",
       "taste|aroma|bitterness|packaging|value"),
    _t(F, "protein bars", "protein bar|high protein snack bars|low sugar protein bars",
       "Fuelbar|Corebalance|Nutrila|Liftlab|Snackwell", 24, {"flavor": "Chocolate|Peanut Butter|Cookie Dough|Berry"},
       {"Count": ("12 Count", "15 Count", "24 Count")}, "20g Protein|Low Sugar|Gluten Free|Keto Friendly",
       "taste|texture|sugar|filling|price"),
    _t(F, "extra virgin olive oil", "olive oil|cold pressed olive oil|evoo",
       "Oliveto|Mediterra|Harvest Table|Nutrila|Sunvale", 18, {"origin": "Italy|Greece|Spain"},
       {"Size": ("500 ml", "1 L", "3 L")}, "Cold Pressed|First Harvest|Glass Bottle|Single Origin",
       "flavor|freshness|bottle|color|value"),
    _t(F, "trail mix", "snack mix|nut mix|mixed nuts",
       "Snackwell|Harvest Table|Sunvale|Nutrila|Trailcrest", 13, {"style": "Classic|Sweet & Salty|Tropical"},
       {"Size": ("1 lb", "2 lb", "3 lb")}, "Resealable Bag|No Artificial Flavors|Protein Packed|Roasted",
       "taste|freshness|nut ratio|saltiness|bag"),
)

LINE_NAMES: tuple[str, ...] = (
    "Pro", "Max", "Lite", "Air", "Plus", "Elite", "Core", "Flex", "Prime", "One", "Ultra", "Neo", "Go",
    "Classic", "Sport", "Essential", "Studio", "Edge", "Zen", "Nova", "Pulse", "Aero", "Terra", "Vista",
)

REVIEWER_NAMES: tuple[str, ...] = (
    "Jenna M.", "Carlos R.", "Priya S.", "Tom K.", "Alicia W.", "Dmitri P.", "Kayla B.", "Omar H.", "Lin Z.",
    "Grace T.", "Marcus J.", "Sofia L.", "Ben A.", "Hannah C.", "Raj N.", "Emily F.", "Luis G.", "Nora D.",
    "Tyler V.", "Amara O.", "Chris E.", "Yuki I.", "Sam Q.", "Zoe X.",
)

GOOD_PHRASES = ("exceeded my expectations", "is great", "is excellent", "is better than I expected",
                "is really solid", "impressed me")
OK_PHRASES = ("is okay", "is decent for the price", "is fine but nothing special", "is acceptable")
BAD_PHRASES = ("was disappointing", "is poor", "fell apart quickly", "is not as advertised", "is terrible")

# Product types named with a mass noun or already plural take no article and no plural "s".
_MASS = frozenset({"shampoo", "sunscreen", "face moisturizer", "dry dog food", "cat litter", "whole bean coffee",
                   "green tea bags", "protein bars", "extra virgin olive oil", "trail mix"})
CONSUMABLE_CATEGORIES = frozenset({"Grocery", "Beauty & Personal Care"})


def with_article(pt: ProductType) -> str:
    """``"a coffee maker"``, ``"an air fryer"``, ``"wireless earbuds"``, ``"shampoo"``."""
    if pt.name in _MASS or pt.name.endswith("s"):
        return pt.name
    return ("an " if pt.name[0] in "aeiou" else "a ") + pt.name


def plural(pt: ProductType) -> str:
    """``"coffee makers"``, ``"wireless earbuds"``, ``"shampoo options"``."""
    if pt.name in _MASS:
        return f"{pt.name} options"
    return pt.name if pt.name.endswith("s") else pt.name + "s"
