"""X's weighted tweet length under the twitter-text v3 configuration, implemented by hand."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from threadr.source import MAX_MARK_RUN, long_mark_runs

MAX_WEIGHTED_LENGTH = 280
URL_LENGTH = 23  # transformedURLLength: X rewrites every link to a t.co URL of this weight

# v3 `ranges` (weight 100 on a scale of 100): these code points count 1, all others count 2.
_LIGHT_RUNS = re.compile(r"[\x00-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]+")

# Emoji as twemoji-parser (which twitter-text uses) sees them: one sequence weighs 2 in total.
# Astral pictographs are taken as one block so that emoji newer than this table still group.
_MOD = r"[\U0001F3FB-\U0001F3FF]"
_BMP_EMOJI = (
    r"[\u203c\u2049\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    r"\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u2604\u260e\u2611\u2614"
    r"\u2615\u2618\u261d\u2620\u2622\u2623\u2626\u262a\u262e\u262f\u2638-\u263a\u2640\u2642"
    r"\u2648-\u2653\u2660\u2663\u2665\u2666\u2668\u267b\u267e\u267f\u2692-\u2697\u2699\u269b"
    r"\u269c\u26a0\u26a1\u26a7\u26aa\u26ab\u26b0\u26b1\u26bd\u26be\u26c4\u26c5\u26c8\u26ce\u26cf"
    r"\u26d1\u26d3\u26d4\u26e9\u26ea\u26f0-\u26f5\u26f7-\u26fa\u26fd\u2702\u2705\u2708-\u270d"
    r"\u270f\u2712\u2714\u2716\u271d\u2721\u2728\u2733\u2734\u2744\u2747\u274c\u274e\u2753-\u2755"
    r"\u2757\u2763\u2764\u2795-\u2797\u27a1\u27b0\u27bf\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c"
    r"\u2b50\u2b55\u3030\u303d\u3297\u3299]"
)
# twemoji-parser needs VS16 after © ® ™ ♟ (text by default) and skips any emoji followed by VS15.
_ELEMENT = (
    rf"(?:[\U0001F000-\U0001FAFF]\ufe0f?|{_BMP_EMOJI}(?:\ufe0f|(?!\ufe0e))"
    rf"|[\u00a9\u00ae\u2122\u265f]\ufe0f){_MOD}?"
)
_EMOJI = re.compile(
    r"[\U0001F1E6-\U0001F1FF]{2}"  # flag: a pair of regional indicators
    r"|[#*0-9]\ufe0f?\u20e3"  # keycap
    r"|\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"  # subdivision flag (tag sequence)
    rf"|{_ELEMENT}(?:\u200d{_ELEMENT})*"  # ZWJ sequence, skin tones, presentation selector
    r"|\ufe0f"
)

# twitter-text only links a bare domain whose TLD it knows. All ASCII ccTLDs, plus the gTLDs
# people actually write; an unknown TLD counts as text, which can only under-count a short link.
_CCTLD_NAMES = (
    "ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo "
    "bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm "
    "do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs "
    "gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp "
    "kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms "
    "mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps "
    "pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz "
    "tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk um us uy uz va vc ve vg vi vn vu "
    "wf ws ye yt za zm zw"
)
_GTLD_NAMES = (
    "com net org edu gov mil int info biz name pro aero asia cat coop jobs mobi museum tel "
    "travel xxx dev app page blog news xyz tech online site website store shop space "
    "live life world today top club cloud digital email link click help host hosting network "
    "systems software solutions services agency studio design media press social video photo "
    "photos pics gallery art film movie games game fun zone guru ninja rocks wiki academy "
    "education school university college institute science expert center company business "
    "group global international ltd inc llc gmbh capital finance financial fund money bank "
    "credit loans insurance market markets trade trading exchange land estate realty house "
    "homes city london nyc berlin paris tokyo amsterdam africa health care clinic doctor "
    "energy green eco earth bio farm garden food recipes restaurant cafe bar pizza coffee wine "
    "beer fashion style shoes clothing jewelry beauty fitness yoga golf football soccer team "
    "sport fan fans bet poker casino win one plus new now next best cool pub run watch "
    "radio show events party family love dating men baby dog pet vet tours holiday flights "
    "hotels rentals codes computer technology tools works work careers career consulting "
    "management marketing partners ventures review reviews report guide tips community "
    "foundation charity church moe lol wtf ooo meme google youtube apple microsoft android "
    "chrome gmail aws azure goog mba phd law legal cpa tax accountant engineer engineering "
    "build builders archi vegas miami boston sydney melbourne quebec scot wales cymru bzh eus "
    "gal onion arpa ngo ong sucks gay lgbt red blue black pink gold diamonds"
)
_SHORT_CC = frozenset(_CCTLD_NAMES.split())
_TLDS = _SHORT_CC | frozenset(_GTLD_NAMES.split())

_LATIN = (
    r"a-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    r"\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_PARENS = r"\([^\s()]*\)"  # balanced parentheses, as in Wikipedia links
_PATH = (
    rf"/(?:(?:[{_LATIN}\u0400-\u04ff!*';:=+,.$/%#\[\]\-\u2013_~@|&]|{_PARENS})*"
    rf"(?:[{_LATIN}\u0400-\u04ff=_#/+\-]|{_PARENS}))?"
)
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"
# A host after a scheme may be in any script, but its last label, when it starts in ASCII, stays
# ASCII so that text glued to the link (common in Japanese and Chinese) is not swallowed.
_HOST_LABEL = r"[^\s!-,./:-@\[-^`{-~\u00a0-\u00bf\u2000-\u206f\u3000-\u303f\uff00-\uff65]+"
# A domain tried from any start inside a run of dotted labels fails wherever it failed from the
# first start (its last-label candidates are a subset), so after a failure `skip` steps over the
# labels instead of letting the search try every later start, which is quadratic in the run
# ("éé.éé.…", "ééé…" — non-ASCII letters do not stop a start the way ASCII ones do). It stops
# before a scheme, where a link may still start.
_LABEL_RUN = rf"(?:(?!https?://)[{_LATIN}-])++"
_URL = re.compile(
    r"(?<![a-z0-9@＠$#＃\u202a-\u202e])"  # twitter-text's validUrlPrecedingChars
    r"(?:(?:(?P<scheme>https?://)"
    rf"(?P<host>(?:{_HOST_LABEL}\.)*(?:[a-z0-9-]+|{_HOST_LABEL}))"
    rf"|(?<![-_./])(?P<domain>(?:[{_LATIN}-]+\.)+(?:xn--[-0-9a-z]+|[a-z]+)(?=[^0-9a-z@+-]|$)))"
    rf"(?::[0-9]+)?(?P<path>{_PATH})?(?:{_QUERY})?"
    rf"|(?<![-_./])(?P<skip>{_LABEL_RUN}(?:\.{_LABEL_RUN})*+))",
    re.IGNORECASE,
)
# Cheap tests that let most text skip the URL pattern: a URL has a scheme or a dot before its
# top-level domain, which starts with a letter a-z; and never a space. A link is at most
# MAX_URL_LENGTH characters long, so text further than that before the first of these is in none.
_MAYBE_URL = re.compile(r"\.[a-z]|://", re.IGNORECASE)
_TOKEN = re.compile(r"\S+")
_EDGE_SPACES = re.compile(r"[ \t]+(?=\n)|(?<=\n)[ \t]+")  # what an emoji leaves at a line's edge
_DOUBLE_SPACES = re.compile(r"[ \t]{2,}")

# Characters that are a cluster on their own: the blocks of letters and symbols that hold no
# mark, format character, skin tone, flag half or zero-width joiner (Latin, Greek, Cyrillic,
# Armenian, jamo, punctuation, symbols, CJK, Hangul, emoji; tests/writing/test_twittertext.py
# checks it against unicodedata). A text of these is cut into clusters by a regex, not by a
# Python loop over its characters.
_SINGLES = re.compile(
    r"[\x00-\xac\xae-\u02ff\u0370-\u0482\u048a-\u0590\u1100-\u11ff\u1e00-\u1fff\u2010-\u2027"
    r"\u2030-\u205f\u2070-\u20cf\u2100-\u2bff\u2e80-\u3029\u3030-\u3098\u309b-\u9fff\uac00-\ud7a3"
    r"\uf900-\ufaff\U0001f300-\U0001f3fa\U0001f400-\U0001faff\U00020000-\U0003ffff]*+"
)

MAX_URL_LENGTH = 4096  # twitter-text's; a longer "URL" is counted as text
_LONG_LABEL = re.compile(r"[^.]{64}")  # longer than DNS allows: fails twitter-text's IDNA check


def stream_safe(text: str) -> str:
    """`text` with every run of more than 30 combining marks cut to its first 30 (UAX #15's
    Stream-Safe Text Format bound; no language needs more, only "Zalgo" text). NFC sorts a run
    of marks by insertion, so without the cut weighted_length is quadratic in the longest run."""
    if unicodedata.is_normalized("NFC", text):  # NFC will not touch it: nothing to sort
        return text
    runs = long_mark_runs(text)
    if not runs:
        return text
    kept, pos = [], 0
    for start, end in runs:
        kept.append(text[pos : start + MAX_MARK_RUN])
        pos = end
    kept.append(text[pos:])
    return "".join(kept)


def weighted_length(text: str) -> int:
    """The length X counts for `text`: 1 or 2 per character, 2 per emoji, 23 per URL. Linear in
    the length of a stream-safe text (see `stream_safe`)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for start, end in _url_spans(text):
        total += _text_weight(text[pos:start]) + URL_LENGTH
        pos = end
    return total + _text_weight(text[pos:])


def has_emoji(text: str) -> bool:
    """Whether `text` holds an emoji as X counts them (a lone variation selector aside)."""
    return any(m[0] != "\ufe0f" for m in _EMOJI.finditer(text))


def strip_emoji(text: str) -> str:
    """`text` without its emoji, and without the spaces they leave doubled or dangling."""
    if text.isascii():
        return text
    text = _EDGE_SPACES.sub("", _EMOJI.sub("", text))
    return _DOUBLE_SPACES.sub(" ", text).strip()


def exceeds(text: str, budget: int) -> bool:
    """Whether `weighted_length(text) > budget`, reading about `budget` characters of a long
    text instead of all of it when no link can reach back that far."""
    # Text that no link covers weighs at least as much as any prefix of it that ends between
    # clusters (nothing after such a cut merges into what came before it), so a prefix heavier
    # than the budget decides. (The (budget + 1)th cluster is whole: another one started after.)
    # Positions are those of the normalised text, where links are found.
    text = unicodedata.normalize("NFC", text)
    ends = _cluster_ends(text, budget + 2)
    if len(ends) == budget + 2:
        first_link = _MAYBE_URL.search(text)
        reach = first_link.start() - MAX_URL_LENGTH if first_link else len(text)
        if ends[budget] <= reach and weighted_length(text[: ends[budget]]) > budget:
            return True
    return weighted_length(text) > budget


def fitting_prefix(text: str, budget: int) -> int:
    """How many characters of `text` fit in `budget` weighted characters, cutting between
    emoji sequences and letters with their marks where possible; at least one character."""
    # Outside a link every cluster weighs at least 1 (nearly: conjoining jamo weigh 2 for 3), so
    # more than `budget` of them (plus slack for links) never fit; binary search keeps the
    # measurements logarithmic. Reading 4 × `budget` clusters costs ~1 ms of Python a call, so
    # `budget` + 2 are read first: when they already weigh more than the budget and no link is
    # near (weights then only grow with the cut), every cut that fits is among them.
    ends = _cluster_ends(text, budget + 2)
    read = ends[-1] if ends else min(len(text), 2 * (budget + 2))
    if _MAYBE_URL.search(text, 0, 8 * budget) or weighted_length(text[:read]) <= budget:
        ends = _cluster_ends(text, 4 * budget)
        read = ends[-1] if ends else min(len(text), 8 * budget)
    cut = _last_fitting(text, ends, budget)
    first = ends[0] if ends else read
    if not cut and first:  # a single cluster heavier than the budget, like a letter under marks
        cut = _last_fitting(text, range(1, first + 1), budget) or 1
    return cut


def _last_fitting(text: str, ends: Sequence[int], budget: int) -> int:
    best, low, high = 0, 0, len(ends) - 1
    while low <= high:
        middle = (low + high) // 2
        if weighted_length(text[: ends[middle]]) <= budget:
            best, low = ends[middle], middle + 1
        else:
            high = middle - 1
    return best


def _cluster_ends(text: str, limit: int) -> list[int]:
    """Where each of the first `limit` clusters ends, of those that end in the first 2 × `limit`
    characters. Clusters average well under two code points in any language; the bound stops a
    run of joiners (marks, zero-width joiners, format characters) from making every call read
    the whole text."""
    if text[:limit].isascii() or _SINGLES.fullmatch(text, 0, limit + 1):
        return list(range(1, min(len(text), limit) + 1))
    ends: list[int] = []
    pairing = False  # the first half of a flag
    for index in range(min(len(text), 2 * limit + 1)):
        joins = index > 0 and _joins(text, index, pairing)
        pairing = not joins and "\U0001f1e6" <= text[index] <= "\U0001f1ff"
        if joins:
            ends[-1] = index + 1
        elif len(ends) == limit or index == 2 * limit:
            return ends  # the next cluster starts here, so the last one read is whole
        else:
            ends.append(index + 1)
    if len(text) > 2 * limit + 1:
        ends.pop()  # the read ended inside a cluster that may go on
    return ends


def _joins(text: str, index: int, pairing: bool) -> bool:
    """Whether the character at `index` belongs to the cluster before it."""
    char = text[index]
    return (
        unicodedata.category(char) in {"Mn", "Mc", "Me", "Cf"}
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or text[index - 1] == "\u200d"
        or (pairing and "\U0001f1e6" <= char <= "\U0001f1ff")
    )


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    if not _MAYBE_URL.search(text):
        return spans
    for token in _TOKEN.finditer(text):
        if _MAYBE_URL.search(text, *token.span()):
            spans.extend(_token_urls(text, *token.span()))
    return spans


def _token_urls(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text, start, end):
        if match["skip"]:
            continue
        begin, stop = match.span()
        host = match["host"]
        if host is None:
            # The pattern accepts any last label; keep the longest prefix ending in a known TLD,
            # which is where twitter-text's TLD list would have stopped the match.
            labels = match["domain"].split(".")
            known = [i for i in range(1, len(labels)) if _is_tld(labels[i].lower())]
            if not known:
                continue
            labels = labels[: known[-1] + 1]
            host = ".".join(labels)
            if known[-1] + 1 < len(match["domain"].split(".")):
                stop = begin + len(host)  # a path cannot follow a label that was cut off
            elif (
                not match["path"]
                and len(labels) == 2
                and labels[1].lower() in _SHORT_CC
                and host.lower() != "t.co"
            ):
                continue  # twitter-text's invalidShortDomain: "name.cc" alone is not a link
        if stop - begin + 8 > MAX_URL_LENGTH or _LONG_LABEL.search(host):
            continue
        spans.append((begin, stop))
    return spans


def _is_tld(label: str) -> bool:
    return label in _TLDS or label.startswith("xn--")  # punycode TLDs are always accepted


def _text_weight(text: str) -> int:
    if text.isascii():
        return len(text)
    rest, emoji = _EMOJI.subn("", text)
    return len(rest) + len(_LIGHT_RUNS.sub("", rest)) + 2 * emoji  # heavy characters count twice
