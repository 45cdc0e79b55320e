"""Words for colours, fabrics, article types and genders, and what each one may stand for.

Shared by the template writer (how to *say* an evidence value), the hashtags (how to *tag* it) and the grounding
guard (which words in a text *claim* something). The catalog's own names (KAGL baseColour / articleType) are the
keys; everything else is a synonym that maps back to them. Lenient on purpose: the guard flags a word only when no
reading of it fits the evidence ("red" for Maroon is fine, "red" for Navy Blue is not).
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

from ..core import vocabulary

# --- colours -----------------------------------------------------------------------------------------------------
#: Catalog colour name -> hue families it belongs to.
CATALOG_COLOUR_FAMILIES: dict[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "Black": {"black"},
        "Blue": {"blue"},
        "White": {"white"},
        "Grey": {"grey"},
        "Red": {"red"},
        "Brown": {"brown"},
        "Green": {"green"},
        "Navy Blue": {"blue"},
        "Purple": {"purple"},
        "Pink": {"pink"},
        "Maroon": {"red", "brown"},
        "Yellow": {"yellow"},
        "Beige": {"beige", "brown", "white"},
        "Olive": {"green", "brown"},
        "Orange": {"orange"},
        "Cream": {"white", "beige", "yellow"},
        "Silver": {"grey", "silver"},
        "Tan": {"brown", "beige"},
        "Multi": {"*"},
        "Charcoal": {"grey", "black"},
        "Khaki": {"beige", "green", "brown"},
        "Gold": {"gold", "yellow"},
        "Off White": {"white", "beige"},
        "Magenta": {"pink", "purple", "red"},
        "Steel": {"grey", "blue", "silver"},
        "Lavender": {"purple", "pink"},
        "Peach": {"orange", "pink", "beige"},
        "Coffee Brown": {"brown"},
        "Mustard": {"yellow", "brown", "gold"},
        "Taupe": {"brown", "grey", "beige"},
        "Grey Melange": {"grey"},
        "Teal": {"blue", "green"},
        "Burgundy": {"red", "purple", "brown"},
        "Copper": {"orange", "brown", "gold"},
        "Turquoise Blue": {"blue", "green"},
        "Fluorescent Green": {"green", "yellow"},
        "Sea Green": {"green", "blue"},
        "Rust": {"orange", "red", "brown"},
        "Mauve": {"purple", "pink"},
        "Skin": {"beige", "pink", "brown"},
        "Nude": {"beige", "pink"},
        "Metallic": {"grey", "silver", "gold"},
        "Bronze": {"brown", "gold", "orange"},
        "Rose": {"pink", "red"},
        "Lime Green": {"green", "yellow"},
    }.items()
}

#: Colour word or phrase (lower case) -> hue families. Catalog names are added below.
COLOUR_WORDS: dict[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "navy": {"blue"},
        "dark blue": {"blue"},
        "light blue": {"blue"},
        "sky blue": {"blue"},
        "royal blue": {"blue"},
        "cobalt": {"blue"},
        "indigo": {"blue", "purple"},
        "azure": {"blue"},
        "aqua": {"blue", "green"},
        "cyan": {"blue", "green"},
        "gray": {"grey"},
        "charcoal grey": {"grey"},
        "ash": {"grey"},
        "crimson": {"red"},
        "scarlet": {"red"},
        "cherry": {"red"},
        "wine": {"red", "purple"},
        "oxblood": {"red", "brown"},
        "chocolate": {"brown"},
        "camel": {"brown", "beige"},
        "mocha": {"brown"},
        "coffee": {"brown"},
        "ivory": {"white", "beige"},
        "ecru": {"white", "beige"},
        "snow": {"white"},
        "emerald": {"green"},
        "mint": {"green"},
        "sage": {"green"},
        "forest green": {"green"},
        "bottle green": {"green"},
        "jade": {"green"},
        "violet": {"purple"},
        "lilac": {"purple", "pink"},
        "plum": {"purple"},
        "fuchsia": {"pink", "purple"},
        "blush": {"pink"},
        "coral": {"pink", "orange", "red"},
        "salmon": {"pink", "orange"},
        "lemon": {"yellow"},
        "golden": {"gold", "yellow"},
        "amber": {"orange", "yellow"},
        "tangerine": {"orange"},
        "silvery": {"silver", "grey"},
        "jet black": {"black"},
        "ebony": {"black"},
        "multicolour": {"*"},
        "multicolor": {"*"},
        "multicoloured": {"*"},
        "multicolored": {"*"},
    }.items()
}
for _name, _fams in CATALOG_COLOUR_FAMILIES.items():
    if _name not in ("Skin", "Rose", "Metallic"):  # everyday words, too ambiguous to count as colour claims
        COLOUR_WORDS.setdefault(_name.lower(), _fams)


def colour_families(name: str) -> frozenset[str]:
    """Hue families of a catalog colour name (unknown names: their own lower-case words)."""
    fams = CATALOG_COLOUR_FAMILIES.get(name.strip().title()) or CATALOG_COLOUR_FAMILIES.get(name.strip())
    if fams:
        return fams
    low = name.strip().lower()
    return COLOUR_WORDS.get(low, frozenset({low}))


# --- fabrics -------------------------------------------------------------------------------------------------------
#: Fabric word -> canonical fabric. Canonical names are what a catalog/vote would say (title case).
FABRIC_WORDS: Mapping[str, str] = vocabulary.FABRIC_SYNONYMS  # one synonym table (core/vocabulary.json)
#: Fabric implied by an article type even when no fabric was voted (jeans are denim by definition).
IMPLIED_FABRICS: dict[str, set[str]] = {"Jeans": {"Denim"}}
#: Fabrics that are close enough not to contradict each other.
FABRIC_COMPATIBLE: dict[str, set[str]] = {
    "Wool": {"Cashmere"},
    "Cashmere": {"Wool"},
    "Rayon": {"Viscose", "Modal"},
    "Viscose": {"Rayon", "Modal"},
    "Modal": {"Rayon", "Viscose"},
    "Leather": {"Suede"},
    "Suede": {"Leather"},
    "Denim": {"Cotton", "Chambray"},
    "Chambray": {"Cotton", "Denim"},
    "Jersey": {"Cotton"},
    "Lycra": {"Polyester", "Nylon"},
}


canonical_fabric = vocabulary.canonical_fabric


# --- article types -------------------------------------------------------------------------------------------------
TOPWEAR = {"Tshirts", "Shirts", "Tops", "Kurtas", "Kurtis", "Tunics", "Sweaters", "Sweatshirts", "Jackets",
           "Waistcoat", "Shrug", "Blazers", "Camisoles", "Innerwear Vests"}
BOTTOMWEAR = {"Jeans", "Trousers", "Track Pants", "Shorts", "Skirts", "Capris", "Leggings", "Churidar",
              "Lounge Pants", "Tights", "Salwar", "Patiala", "Jeggings"}
FULL_LENGTH = {"Dresses", "Jumpsuit", "Kurta Sets", "Tracksuits", "Sarees", "Night suits", "Nightdress"}
FOOTWEAR = {"Casual Shoes", "Sports Shoes", "Formal Shoes", "Heels", "Flats", "Sandals", "Sports Sandals",
            "Flip Flops", "Booties", "Shoes"}
BAGS = {"Handbags", "Backpacks", "Laptop Bag", "Clutches", "Duffel Bag", "Messenger Bag", "Wallets"}

#: KAGL article type -> (singular noun used in text, True when the noun is plural-only like "jeans").
ARTICLE_NOUNS: dict[str, tuple[str, bool]] = {
    "Tshirts": ("t-shirt", False),
    "Shirts": ("shirt", False),
    "Tops": ("top", False),
    "Kurtas": ("kurta", False),
    "Kurtis": ("kurti", False),
    "Tunics": ("tunic", False),
    "Sweaters": ("sweater", False),
    "Sweatshirts": ("sweatshirt", False),
    "Jackets": ("jacket", False),
    "Waistcoat": ("waistcoat", False),
    "Shrug": ("shrug", False),
    "Blazers": ("blazer", False),
    "Jeans": ("jeans", True),
    "Trousers": ("trousers", True),
    "Track Pants": ("track pants", True),
    "Shorts": ("shorts", True),
    "Skirts": ("skirt", False),
    "Capris": ("capris", True),
    "Leggings": ("leggings", True),
    "Churidar": ("churidar", False),
    "Lounge Pants": ("lounge pants", True),
    "Tights": ("tights", True),
    "Dresses": ("dress", False),
    "Jumpsuit": ("jumpsuit", False),
    "Kurta Sets": ("kurta set", False),
    "Tracksuits": ("tracksuit", False),
    "Sarees": ("saree", False),
    "Casual Shoes": ("casual shoes", True),
    "Sports Shoes": ("sports shoes", True),
    "Formal Shoes": ("formal shoes", True),
    "Heels": ("heels", True),
    "Flats": ("flats", True),
    "Sandals": ("sandals", True),
    "Sports Sandals": ("sports sandals", True),
    "Flip Flops": ("flip flops", True),
    "Belts": ("belt", False),
    "Wallets": ("wallet", False),
    "Handbags": ("handbag", False),
    "Backpacks": ("backpack", False),
    "Laptop Bag": ("laptop bag", False),
    "Caps": ("cap", False),
    "Ties": ("tie", False),
    "Socks": ("socks", True),
    "Watches": ("watch", False),
    "Scarves": ("scarf", False),
    "Mufflers": ("muffler", False),
    "Stoles": ("stole", False),
    "Dupatta": ("dupatta", False),
    "Gloves": ("gloves", True),
    "Cufflinks": ("cufflinks", True),
    "Stockings": ("stockings", True),
    "Bra": ("bra", False),
    "Umbrellas": ("umbrella", False),
    "Accessory Gift Set": ("gift set", False),
    "Necklace and Chains": ("necklace", False),
    "Bracelet": ("bracelet", False),
    "Travel Accessory": ("travel accessory", False),
}


def article_noun(article_type: str) -> tuple[str, bool]:
    """Noun for an article type in running text, and whether it is plural-only."""
    hit = ARTICLE_NOUNS.get(article_type)
    if hit:
        return hit
    low = article_type.strip().lower()
    return (low[:-1], False) if low.endswith("s") and not low.endswith("ss") else (low, False)


#: Word or phrase (lower case) -> article types it may stand for.
ARTICLE_WORDS: dict[str, frozenset[str]] = {}


def _add_article(words: list[str], types: set[str]) -> None:
    for w in words:
        ARTICLE_WORDS[w] = ARTICLE_WORDS.get(w, frozenset()) | frozenset(types)


for _t, (_noun, _plural_only) in ARTICLE_NOUNS.items():
    _add_article([_noun] if _plural_only else [_noun, _noun + "s"], {_t})
_add_article(["tshirt", "tshirts", "t shirt", "t shirts", "tee", "tees", "t-shirts", "polo", "polos", "tank top",
              "tank", "jersey tee"], {"Tshirts"})
_add_article(["button-down", "button-up", "oxford shirt"], {"Shirts"})
_add_article(["blouse", "blouses", "crop top", "camisole", "cami"], {"Tops"})
_add_article(["top", "tops", "topwear"], TOPWEAR | {"Tops"})
_add_article(["kurta", "kurtas", "kurti", "kurtis"], {"Kurtas", "Kurtis", "Tunics", "Kurta Sets"})
_add_article(["jumper", "jumpers", "pullover", "pullovers", "cardigan", "cardigans", "knitwear"], {"Sweaters"})
_add_article(["hoodie", "hoodies", "sweat"], {"Sweatshirts"})
_add_article(["coat", "coats", "blazer", "blazers", "windcheater", "bomber", "parka"], {"Jackets", "Blazers"})
_add_article(["jean", "denims"], {"Jeans"})
_add_article(["pants", "pant", "bottoms", "bottomwear"], BOTTOMWEAR)
_add_article(["chinos", "chino", "slacks"], {"Trousers"})
_add_article(["joggers", "trackpants", "track pant", "sweatpants"], {"Track Pants", "Lounge Pants"})
_add_article(["dress", "dresses", "gown", "gowns", "frock", "frocks", "sundress", "maxi"], {"Dresses"})
_add_article(["shoes", "shoe", "footwear", "kicks"], FOOTWEAR)
_add_article(["sneakers", "sneaker", "trainers"], {"Casual Shoes", "Sports Shoes"})
_add_article(["running shoes", "runners"], {"Sports Shoes"})
_add_article(["loafers", "loafer", "moccasins"], {"Casual Shoes", "Formal Shoes"})
_add_article(["oxfords", "brogues", "derbies"], {"Formal Shoes"})
_add_article(["pumps", "stilettos", "wedges"], {"Heels"})
_add_article(["ballerinas", "ballet flats"], {"Flats"})
_add_article(["slides", "slippers", "flip-flops", "flipflops", "chappals"], {"Flip Flops", "Sandals", "Sports Sandals"})
_add_article(["sandal", "sandals"], {"Sandals", "Sports Sandals"})
_add_article(["bag", "bags", "purse", "purses", "tote", "totes"], BAGS)
_add_article(["hat", "hats", "beanie", "beanies", "caps"], {"Caps"})
_add_article(["necktie", "neckties", "ties"], {"Ties"})
_add_article(["watches", "wristwatch", "smartwatch"], {"Watches"})
_add_article(["saree", "sarees", "sari"], {"Sarees"})
_add_article(["skirts"], {"Skirts"})
_add_article(["shorts"], {"Shorts"})


# --- genders -------------------------------------------------------------------------------------------------------
#: Gender word -> genders it claims.
GENDER_WORDS: dict[str, frozenset[str]] = {
    **{w: frozenset({"Men"}) for w in ("men", "men's", "mens", "man", "man's", "male", "menswear", "gentleman",
                                        "gentlemen", "guy", "guys")},
    **{w: frozenset({"Women"}) for w in ("women", "women's", "womens", "woman", "woman's", "female", "womenswear",
                                          "ladies", "lady")},
    **{w: frozenset({"Boys"}) for w in ("boys", "boy", "boy's", "boys'")},
    **{w: frozenset({"Girls"}) for w in ("girls", "girl", "girl's", "girls'")},
    "unisex": frozenset({"Unisex"}),
}
#: Evidence gender -> genders a text may name for it.
GENDER_ACCEPTS: dict[str, set[str]] = {
    "Men": {"Men", "Unisex"},
    "Women": {"Women", "Unisex"},
    "Boys": {"Boys", "Men", "Unisex"},
    "Girls": {"Girls", "Women", "Unisex"},
    "Unisex": {"Men", "Women", "Unisex", "Boys", "Girls"},
}


def canonical_gender(value: str) -> Optional[str]:
    v = value.strip().lower()
    for canon in ("Men", "Women", "Boys", "Girls", "Unisex"):
        if v == canon.lower():
            return canon
    hit = GENDER_WORDS.get(v)
    return next(iter(hit)) if hit and len(hit) == 1 else None


# --- tokenising ----------------------------------------------------------------------------------------------------
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def split_hashtag(tag: str) -> str:
    """'#NavyBlueTShirt' -> 'navy blue t shirt'; all-lower or all-upper tags come back as one word."""
    body = tag.lstrip("#")
    parts = []
    for chunk in re.split(r"[_\-\s]+", body):
        if chunk and (chunk.islower() or chunk.isupper()):
            parts.append(chunk.lower())
        else:
            parts.extend(p.lower() for p in _CAMEL.findall(chunk))
    return " ".join(parts)


# --- broader words for abstention ------------------------------------------------------------------------------------
#: Words to say when the exact article type is not confident but a group of types is, most specific first:
#: (word in running text, plural-only, the types it stands for). Each word is a guard synonym for exactly those types.
GENERIC_ARTICLE_WORDS: tuple[tuple[str, bool, frozenset[str]], ...] = tuple(
    (w, plural, ARTICLE_WORDS[w])
    for w, plural in (("sneakers", True), ("loafers", True), ("sandals", True), ("joggers", True), ("kurta", False),
                      ("coat", False), ("slides", True), ("top", False), ("bottoms", True), ("shoes", True),
                      ("bag", False))
)

#: Hue family -> the catalog colour name that says only that family (what "Navy Blue" backs off to: "Blue").
BASIC_COLOUR_NAMES: dict[str, str] = {
    fam: name for name, fams in CATALOG_COLOUR_FAMILIES.items() if len(fams) == 1 and name.lower() == next(iter(fams))
    for fam in fams
}


def generic_article(article_type: str, distribution: Mapping[str, float], threshold: float):
    """The most specific broader word for ``article_type`` whose types hold at least ``threshold`` of the vote:
    (word, plural, types, share), or None."""
    for word, plural, types in GENERIC_ARTICLE_WORDS:
        if article_type in types:
            share = sum(v for k, v in distribution.items() if k in types)
            if share >= threshold:
                return word, plural, types, share
    return None
