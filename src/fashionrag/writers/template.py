"""The default writer: sentences assembled from phrase banks, filled only with evidence values.

Grounded by construction: every colour, fabric, garment and gender word comes from the evidence pack; a slot whose
value is unknown is left out together with the phrasing that needs it. Neighbour titles (``style_examples``) are
never used: copying catalog text could carry brand names, wrong attributes or injected instructions into a caption.

Variety comes from several phrasings per slot; the choice is seeded by (seed, style, the facts), so one seed gives
the same caption for the same photo, and different photos get different phrasings.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Optional

from ..core.evidence import EvidencePack, GarmentEvidence
from . import vocab
from .base import Draft, Writer, register
from .prompt import evidence_payload

GENDER_ADJ = {"Men": "men's", "Women": "women's", "Boys": "boys'", "Girls": "girls'", "Unisex": "unisex"}
GENDER_FOR = {"Men": "for men", "Women": "for women", "Boys": "for boys", "Girls": "for girls",
              "Unisex": "for everyone"}
#: Other ways to say GENDER_FOR (each still names the gender, so the guard checks it).
GENDER_FOR_ALT = {"Men": ("for men", "in menswear", "for the men's wardrobe", "for men on the go",
                          "for the modern man", "for gentlemen", "for men who travel light", "for men with plans",
                          "for men who like it simple", "for men everywhere", "for the men's edit"),
                  "Women": ("for women", "in womenswear", "for the women's wardrobe", "for women on the go",
                            "for the modern woman", "for ladies", "for women who travel light",
                            "for women with plans", "for women who like it simple", "for women everywhere",
                            "for the women's edit")}

USAGE_PHRASES = {
    "Casual": ("casual days", "everyday wear", "off-duty days", "easy weekends", "weekend plans", "laid-back days",
               "coffee runs", "city strolls", "everyday errands", "relaxed outings", "brunch dates", "downtime",
               "slow Sundays", "daytime plans", "weekend errands", "catch-ups with friends", "days off",
               "lazy afternoons", "spontaneous plans", "easy Fridays", "market mornings", "movie nights"),
    "Formal": ("the office", "formal occasions", "workdays", "boardroom days", "meetings", "client days",
               "the nine-to-five", "business dinners", "office hours", "presentations", "big meetings",
               "formal dinners", "work events", "interviews", "smart occasions"),
    "Sports": ("workouts", "training days", "active days", "game day", "the gym", "morning runs",
               "practice sessions", "high-energy days", "the track", "weekend matches", "weekend workouts",
               "training runs", "sports days", "active weekends", "early sessions"),
    "Ethnic": ("festive occasions", "celebrations", "festive days", "weddings", "family gatherings",
               "festive evenings", "the festive season", "family functions", "festive gatherings",
               "celebration days"),
    "Smart Casual": ("smart-casual days", "after-work plans", "dinner dates"),
    "Party": ("parties", "nights out", "evening plans"),
    "Travel": ("travel days", "long journeys", "weekend trips"),
    "Home": ("lounging at home", "slow mornings", "quiet evenings"),
}
USAGE_WORD = {"Casual": "Casual", "Formal": "Formal", "Sports": "Sporty", "Ethnic": "Festive",
              "Smart Casual": "Smart-casual", "Party": "Party-ready", "Travel": "Travel-ready"}
SEASON_WORDS = {"Summer": ("summer", "summertime"), "Fall": ("fall", "autumn"), "Winter": ("winter", "wintertime"),
                "Spring": ("spring", "springtime")}

# Phrase banks. {lead_a}: "a navy blue shirt"; {lead_this}: "this navy blue shirt"; {lead}: "navy blue shirt";
# {others_a}: "white jeans and black casual shoes" with articles; {for_gender}: " for men" (leading space) or "".
BANKS: dict[str, dict[str, list[tuple[str, frozenset[str]]]]] = {}


def _bank(style: str, slot: str, *entries: tuple[str, set[str]]) -> None:
    BANKS.setdefault(style, {})[slot] = [(text, frozenset(req)) for text, req in entries]


_bank("instagram", "lead",
      ("Loving {lead_this}{for_gender}.", set()),
      ("All eyes on {lead_this}.", set()),
      ("Today's pick: {lead_a}{for_gender}.", set()),
      ("Meet {lead_this}, an instant favourite.", set()),
      ("Keeping it sharp in {lead_a}.", set()),
      ("{lead_this} is on repeat this week.", {"lead_single"}),
      ("{lead_this} are on repeat this week.", {"lead_plural"}),
      ("Obsessed with {lead_this}{for_gender}.", set()))
_bank("instagram", "others",
      ("Paired with {others_a} to finish the look.", set()),
      ("Styled with {others_a}.", set()),
      ("{others_a} keep it balanced.", {"others_plural"}),
      ("{others_a} keeps it balanced.", {"others_single"}),
      ("Grounded by {others_a}.", set()),
      ("Rounded off with {others_a}.", set()))
_bank("instagram", "occasion",
      ("Made for {usage} this {season}.", {"usage", "season"}),
      ("Ready for {usage}, all {season} long.", {"usage", "season"}),
      ("Your {season} go-to for {usage}.", {"usage", "season"}),
      ("Made for {usage}.", {"usage"}),
      ("Your go-to for {usage}.", {"usage"}),
      ("Built for {usage}.", {"usage"}),
      ("A {season} favourite.", {"season"}),
      ("Ready for {season} days.", {"season"}),
      ("Simple, clean and easy to wear.", set()),
      ("Save this look for later.", set()),
      ("Effortless from morning to night.", set()))
_bank("product", "lead",
      ("{lead_a}{for_gender}.", set()),
      ("{gender_adj} {lead}, ready to wear.", {"gender"}),
      ("This {lead} is designed{for_gender}.", {"gender", "lead_single"}),
      ("{lead_a}, easy to wear.", set()),
      ("{gender_adj} {lead}.", {"gender"}),
      ("{adj_a} {lead}{for_gender}.", {"lead_single"}),
      ("{adj_cap} and {adj2}: {lead_a}{for_gender}.", set()),
      ("Here is {lead_a}, {adj} and {adj2}.", {"lead_single"}),
      ("Here are {lead_a}, {adj} and {adj2}.", {"lead_plural"}),
      ("{lead_a} with {a_quality} feel.", set()),
      ("Discover {lead_a}{for_gender}, {adj} by design.", set()),
      ("{gender_adj} {lead} with {a_quality} look.", {"gender"}),
      ("This {adj} {lead} is made{for_gender}.", {"lead_single"}),
      ("These {adj} {lead} are made{for_gender}.", {"lead_plural"}),
      ("{lead_a} that keeps things {adj}.", set()),
      ("Meet {lead_a}: {adj}, {adj2} and easy to style.", set()),
      ("{lead_a}, {adj} from the first wear.", set()),
      ("Say hello to {lead_a}{for_gender}.", set()),
      ("A {adj} take on {lead_a}.", set()),
      ("{lead_a} with {a_quality} attitude.", set()),
      ("Simple and {adj}: {lead_a}{for_gender}.", set()),
      ("{gender_adj} {lead}, {adj} and {adj2}.", {"gender"}),
      ("{lead_a} for {adj} everyday dressing.", set()),
      ("Wardrobe news: {lead_a}{for_gender}.", set()),
      ("{lead_a} with {a_quality} shape.", set()),
      ("Our {adj} {lead}{for_gender}.", set()),
      ("A {adj} update: {lead_a}.", set()),
      ("{lead_a}, made to feel {adj}.", set()),
      ("Keep it {adj} with {lead_a}.", set()),
      ("Step out in {lead_a}{for_gender}.", set()),
      ("Just in: {lead_a}{for_gender}.", set()),
      ("Freshly picked: {lead_a}, {adj} and {adj2}.", set()),
      ("Style note: {lead_a}{for_gender}.", set()),
      ("{lead_a}, kept {adj}.", set()),
      ("All about {lead_a}{for_gender}.", set()),
      ("Your next {adj} {lead}.", {"lead_single"}),
      ("Everyday {lead}, done the {adj} way.", set()),
      ("Take a look at {lead_a}{for_gender}.", set()))
_bank("product", "detail",
      ("The {pattern} finish keeps it {adj}.", {"pattern"}),
      ("A {pattern} design adds {a_quality} touch.", {"pattern"}),
      ("Its {pattern} look pairs with almost anything.", {"pattern"}),
      ("Cut in a {fit} for {a_quality} line.", {"fit"}),
      ("The {pattern} detail makes it {adj2}.", {"pattern"}),
      ("{pattern_cap} and {adj}, it works on its own.", {"pattern"}),
      ("Go {pattern} for {a_quality} finish.", {"pattern"}),
      ("A {fit} keeps the shape {adj}.", {"fit"}))
_bank("product", "others",
      ("Shown with {others_a}.", set()),
      ("Pairs well with {others_a}.", set()),
      ("Worn here with {others_a}.", set()),
      ("Try it with {others_a}.", set()),
      ("Styled here alongside {others_a}.", set()),
      ("It sits well next to {others_a}.", set()),
      ("Team it with {others_a} for {a_quality} outfit.", set()),
      ("Complete the outfit with {others_a}.", set()))
_bank("product", "closing",
      ("{adj_cap}, {adj2} and made to last.", set()),
      ("Expect a {adj} fit and a {adj2} finish.", set()),
      ("{adj_cap} lines, {adj2} comfort.", set()),
      ("It feels {adj} and looks {adj2}.", set()),
      ("The result: {adj}, {adj2}, done.", set()),
      ("{adj_cap} on its own, {adj2} in an outfit.", set()),
      ("One {adj} piece, many {adj2} outfits.", set()),
      ("Quietly {adj}, never fussy.", set()),
      ("A {adj} staple with a {adj2} edge.", set()),
      ("Wear it {adj}, keep it {adj2}.", set()),
      ("{adj_cap} today, {adj2} tomorrow.", set()),
      ("The kind of {adj} you reach for again.", set()),
      ("{adj_cap} by nature, {adj2} by choice.", set()),
      ("Pure {quality} style.", set()),
      ("{adj_cap} in the best way.", set()),
      ("Built around {a_quality}, {adj2} silhouette.", set()),
      ("Nothing {adj} about it is an accident.", set()),
      ("{adj_cap} from every angle.", set()),
      ("The {adj} option for a {adj2} wardrobe.", set()),
      ("Keep the rest {adj} and let it lead.", set()),
      ("Small details, {adj} effect.", set()),
      ("{adj_cap}, {adj2}, and ready when you are.", set()),
      ("Style it up or down: it stays {adj}.", set()),
      ("A {adj} favourite in the making.", set()),
      ("It brings {a_quality} note to any outfit.", set()),
      ("Made for {adj} days and {adj2} plans.", set()),
      ("Effortlessly {adj}, quietly {adj2}.", set()),
      ("For a {adj} look without trying too hard.", set()),
      ("{adj_cap} looks start here.", set()),
      ("An easy way to look {adj}.", set()),
      ("Goes with a {adj} mood and a {adj2} schedule.", set()),
      ("Add it to your {adj} rotation.", set()),
      ("Proof that {adj} can also be {adj2}.", set()),
      ("The {quality} choice, season after season.", set()))
_bank("product", "occasion",
      ("Suited to {usage} in {season}.", {"usage", "season"}),
      ("{verb_cap} for {usage} this {season}.", {"usage", "season"}),
      ("A {adj} pick for {usage} in {season}.", {"usage", "season"}),
      ("Ready for {usage}, all {season}.", {"usage", "season"}),
      ("{verb_cap} for {usage} and {adj} {season} days.", {"usage", "season"}),
      ("{verb_cap} for {usage}.", {"usage"}),
      ("A {adj} choice for {usage}.", {"usage"}),
      ("Designed for {usage}, {season} after {season}.", {"usage", "season"}),
      ("Designed for {usage}.", {"usage"}),
      ("A practical choice for {usage}.", {"usage"}),
      ("{verb_cap} with {usage} in mind, {season} or not.", {"usage", "season"}),
      ("Wear it for {usage} through {season}.", {"usage", "season"}),
      ("Your {adj} answer to {usage} in {season}.", {"usage", "season"}),
      ("Count on it for {usage} when {season} comes.", {"usage", "season"}),
      ("A {season} staple for {usage}.", {"usage", "season"}),
      ("{adj_cap} enough for {usage}, {adj2} enough for {season}.", {"usage", "season"}),
      ("Think {usage}, think this.", {"usage"}),
      ("Easy to wear for {usage}.", {"usage"}),
      ("Ready for {usage} whenever you are.", {"usage"}),
      ("Perfect for {usage}.", {"usage"}),
      ("A natural fit for {usage}.", {"usage"}),
      ("Bring it along for {usage}.", {"usage"}),
      ("Picked for {usage}, {adj} for everything else.", {"usage"}),
      ("Great for {usage} in {season}.", {"usage", "season"}),
      ("Put it on for {usage} all through {season}.", {"usage", "season"}),
      ("{season_cap} plans, {usage}: covered.", {"usage", "season"}),
      ("From {usage} to {season} evenings.", {"usage", "season"}),
      ("A practical choice for {season}.", {"season"}),
      ("Made for {season}.", {"season"}),
      ("An easy wardrobe staple.", set()),
      ("Easy to style and easy to wear.", set()))
_bank("minimal", "lead",
      ("{lead_all}.", set()),
      ("{lead_all}. Nothing more.", set()),
      ("Today: {lead_all}.", set()),
      ("Just {lead_all}.", set()))
_bank("minimal", "occasion",
      ("{usage_word}, {season}-ready.", {"usage", "season"}),
      ("{usage_word} for {season}.", {"usage", "season"}),
      ("{usage_word} and easy.", {"usage"}),
      ("Easy {usage_word_low} style.", {"usage"}),
      ("Made for {season}.", {"season"}),
      ("{season}-ready.", {"season"}),
      ("Less is more.", set()),
      ("Clean lines.", set()))



def _more(style: str, slot: str, *entries: tuple[str, set[str]]) -> None:
    """More sentence plans for a slot (step 11: captions of more shapes; every one claim-free outside its slots)."""
    BANKS[style][slot] += [(text, frozenset(req)) for text, req in entries]


_more("product", "lead",
      ("New this season: {lead_a}{for_gender}.", set()),
      ("Meet your new {adj} favourite: {lead_a}.", set()),
      ("{lead_a}, {adj} in every detail.", set()),
      ("Quietly {adj}: {lead_a}{for_gender}.", set()),
      ("{lead_a} that feels {adj} and looks {adj2}.", set()),
      ("The {adj} edit: {lead_a}{for_gender}.", set()),
      ("In focus: {lead_a}, {adj} and {adj2}.", set()),
      ("Fresh from the rail: {lead_a}{for_gender}.", set()),
      ("{lead_a} with {a_quality} character.", set()),
      ("Spotted: {lead_a}{for_gender}.", set()),
      ("This one is easy: {lead_a}, {adj} and {adj2}.", set()),
      ("Made to be worn often: {lead_a}{for_gender}.", set()),
      ("Presenting {lead_a}{for_gender}.", set()),
      ("{gender_adj} pick of the week: {lead_a}.", {"gender"}),
      ("Straight to the point: {lead_a}{for_gender}.", set()),
      ("{lead_this} brings {a_quality} mood.", {"lead_single"}),
      ("{lead_this} bring {a_quality} mood.", {"lead_plural"}),
      ("{lead_this} is all about {quality} style.", {"lead_single"}),
      ("{lead_this} are all about {quality} style.", {"lead_plural"}),
      ("Worth a closer look: {lead_a}{for_gender}.", set()),
      ("On the list: {lead_a}, {adj} and ready.", set()),
      ("Back in rotation: {lead_a}{for_gender}.", set()),
      ("For {adj} days: {lead_a}{for_gender}.", set()),
      ("{gender_adj} {lead} in {a_quality} mood.", {"gender"}),
      ("Clean, simple, {adj}: {lead_a}.", set()),
      ("Ready when you are: {lead_a}{for_gender}.", set()),
      ("First look: {lead_a}, made {adj}.", set()),
      ("Everything you need in {lead_a}.", set()))
_more("product", "detail",
      ("{pattern_cap} by design, {adj} by nature.", {"pattern"}),
      ("A {pattern} surface keeps it {adj}.", {"pattern"}),
      ("There is something {adj} about the {pattern} finish.", {"pattern"}),
      ("{pattern_cap}, simple and {adj2}.", {"pattern"}),
      ("The {pattern} styling reads {adj}.", {"pattern"}),
      ("{pattern_cap} detailing gives it {a_quality} lift.", {"pattern"}),
      ("Expect a {pattern} look with {a_quality} feel.", {"pattern"}),
      ("The {pattern} look is {adj} without trying.", {"pattern"}),
      ("A {fit} that sits {adj}.", {"fit"}),
      ("The {fit} keeps it {adj2}.", {"fit"}),
      ("Its {pattern} design stays {adj} all day.", {"pattern"}),
      ("The {pattern} surface adds {a_quality} rhythm.", {"pattern"}),
      ("Thanks to the {pattern} look, it feels {adj}.", {"pattern"}),
      ("A {pattern} piece that plays well with others.", {"pattern"}),
      ("The {pattern} motif keeps things {adj2}.", {"pattern"}),
      ("{pattern_cap} on the outside, {adj} at heart.", {"pattern"}),
      ("Choose {pattern} when you want {a_quality} accent.", {"pattern"}),
      ("The {pattern} styling is {adj} and {adj2}.", {"pattern"}),
      ("One {pattern} statement, many ways to wear it.", {"pattern"}),
      ("A {pattern} classic, done {adj}.", {"pattern"}),
      ("Its {fit} flatters without effort.", {"fit"}),
      ("The {fit} reads {adj} and {adj2}.", {"fit"}))
_more("product", "others",
      ("Finish it with {others_a}.", set()),
      ("Here it meets {others_a}.", set()),
      ("Balance it with {others_a}.", set()),
      ("Seen here beside {others_a}.", set()),
      ("Add {others_a} and you are set.", set()),
      ("Matched here with {others_a}.", set()))
_more("product", "closing",
      ("Easy to reach for, hard to put away.", set()),
      ("{adj_cap} now, {adj2} later.", set()),
      ("A {adj} choice you will wear on repeat.", set()),
      ("Simple to style, {adj} to wear.", set()),
      ("It keeps the look {adj} and {adj2}.", set()),
      ("All the {adj} you need, nothing extra.", set()),
      ("Wear it your way: {adj} or {adj2}.", set()),
      ("A {quality} finish for {adj} days.", set()),
      ("Honest design with {a_quality} twist.", set()),
      ("Works as hard as you do.", set()),
      ("{adj_cap} details make the difference.", set()),
      ("Good design, {adj} results.", set()),
      ("An everyday hero with {a_quality} side.", set()),
      ("{adj_cap} looks, zero effort.", set()),
      ("One to keep close.", set()),
      ("Made with {quality} days in mind.", set()),
      ("It earns its place in any {adj} wardrobe.", set()),
      ("Everything about it says {quality}.", set()),
      ("A little {adj}, a lot of {quality}.", set()),
      ("Designed to be lived in, kept {adj}.", set()),
      ("{adj_cap} and never boring.", set()),
      ("Less fuss, more {quality}.", set()))
_more("product", "occasion",
      ("Take it along for {usage} this {season}.", {"usage", "season"}),
      ("Set for {usage} all {season} long.", {"usage", "season"}),
      ("Here for {usage}, {season} after {season}.", {"usage", "season"}),
      ("Just right for {usage} in {season}.", {"usage", "season"}),
      ("Carry it through {season} for {usage}.", {"usage", "season"}),
      ("Ready for {season} and for {usage}.", {"usage", "season"}),
      ("A {season} essential for {usage}.", {"usage", "season"}),
      ("Count on it for {usage}.", {"usage"}),
      ("Made with {usage} in mind.", {"usage"}),
      ("Ideal for {usage}.", {"usage"}),
      ("Good to go for {usage}.", {"usage"}),
      ("Save it for {usage}.", {"usage"}),
      ("Made to see you through {season}.", {"season"}),
      ("Suited to {usage}.", {"usage"}),
      ("Picked with {usage} in mind, {adj} all day.", {"usage"}),
      ("Keep it close for {usage}.", {"usage"}),
      ("A {adj} partner for {usage}.", {"usage"}),
      ("Wear it for {usage} and beyond.", {"usage"}),
      ("Your {adj} plan for {usage}.", {"usage"}),
      ("Made for {usage}, {adj} by default.", {"usage"}),
      ("A safe bet for {usage} in {season}.", {"usage", "season"}),
      ("For {usage} this {season}, look no further.", {"usage", "season"}),
      ("A sure bet for {season}.", {"season"}))
_more("product", "lead",
      ("Introducing {lead_a}{for_gender}.", set()),
      ("Simply put: {lead_a}, {adj} and {adj2}.", set()),
      ("The case for {lead_a}: {adj}, {adj2}, easy.", set()),
      ("Add {lead_a} to the line-up{for_gender}.", set()),
      ("Make room for {lead_a}{for_gender}.", set()),
      ("{lead_a}: {adj} without the fuss.", set()),
      ("Built to last: {lead_a}{for_gender}.", set()),
      ("Say it with {lead_a}, {adj} and sure.", set()),
      ("Today's find: {lead_a}{for_gender}.", set()),
      ("{gender_adj} essentials start with {lead_a}.", {"gender"}),
      ("A fresh arrival: {lead_a}, {adj} to the core.", set()),
      ("Full marks for {lead_a}{for_gender}.", set()),
      ("Keep an eye on {lead_a}{for_gender}.", set()),
      ("Here to stay: {lead_a}, {adj} and {adj2}.", set()),
      ("Made for you: {lead_a}{for_gender}.", set()),
      ("{lead_this} keeps it {adj}.", {"lead_single"}),
      ("{lead_this} keep it {adj}.", {"lead_plural"}),
      ("Consider {lead_a}, {adj} by design.", set()),
      ("The everyday upgrade: {lead_a}{for_gender}.", set()),
      ("Small change, big difference: {lead_a}.", set()))
_more("product", "closing",
      ("Simple lines, {adj} results.", set()),
      ("It looks {adj} and feels {adj2}.", set()),
      ("Pick it for {quality} reasons.", set()),
      ("It simply works, day in, day out.", set()),
      ("{adj_cap} is the word.", set()),
      ("A good idea on a busy morning.", set()),
      ("The kind of piece that makes mornings easy.", set()),
      ("Clean and {adj}, the way it should be.", set()),
      ("Think {adj}, think {adj2}.", set()),
      ("It plays well with the rest of your wardrobe.", set()),
      ("{adj_cap} enough to repeat all week.", set()),
      ("No fuss, just {quality} style.", set()),
      ("Put it on and get going.", set()),
      ("Expect compliments, {adj} ones.", set()),
      ("An easy yes for a {adj} wardrobe.", set()),
      ("Quietly confident, {adj} at heart.", set()),
      ("Worth wearing on repeat.", set()),
      ("A {adj} choice that never tries too hard.", set()),
      ("{adj_cap} detail by detail.", set()),
      ("Mix it, match it, keep it {adj}.", set()),
      ("Pared back and {adj}.", set()),
      ("Designed to make getting ready {adj}.", set()),
      ("It keeps up with a {adj} week.", set()),
      ("Ready for whatever the day brings.", set()),
      ("A {quality} mood from the first glance.", set()))
_more("product", "occasion",
      ("Well suited to {usage}.", {"usage"}),
      ("Bring it out for {usage}.", {"usage"}),
      ("The right call for {usage}.", {"usage"}),
      ("Made to handle {usage}.", {"usage"}),
      ("At home with {usage}.", {"usage"}),
      ("It earns its keep during {usage}.", {"usage"}),
      ("An easy pick for {usage} this {season}.", {"usage", "season"}),
      ("Made for {usage} through the {season} months.", {"usage", "season"}),
      ("Set for {usage} from early {season} on.", {"usage", "season"}),
      ("Plan {usage} this {season} around it.", {"usage", "season"}),
      ("This {season}, take it to {usage}.", {"usage", "season"}),
      ("Wear it all {season}.", {"season"}),
      ("Here for the {season} months.", {"season"}))
_more("product", "lead",
      ("Style it your way: {lead_a}{for_gender}.", set()),
      ("Why we like {lead_a}: {adj}, {adj2}, easy.", set()),
      ("Meet the {adj} one: {lead_a}.", set()),
      ("The brief was {adj}; the answer is {lead_a}.", set()),
      ("Quick pick: {lead_a}{for_gender}.", set()),
      ("Low effort, high reward: {lead_a}.", set()),
      ("{lead_a}, shown on its own terms.", set()),
      ("Good news for {adj} dressers: {lead_a}.", set()),
      ("Now showing: {lead_a}{for_gender}.", set()),
      ("Fresh and {adj}: {lead_a}{for_gender}.", set()),
      ("Behold {lead_a}, {adj} through and through.", set()),
      ("{gender_adj} wardrobe staple: {lead_a}.", {"gender"}),
      ("A closer look at {lead_a}{for_gender}.", set()),
      ("The details matter in {lead_a}.", set()),
      ("Start here: {lead_a}{for_gender}.", set()))
_more("product", "closing",
      ("Comfort and style, finally on speaking terms.", set()),
      ("Reliable, {adj} and never dull.", set()),
      ("It makes a {adj} first impression.", set()),
      ("Style it up, style it down.", set()),
      ("Wear now, wear often.", set()),
      ("A {quality} piece with staying power.", set()),
      ("There is a lot to like here.", set()),
      ("Modest on the hanger, {adj} when worn.", set()),
      ("It keeps every outfit {adj}.", set()),
      ("Calm, {adj} and easy to live with.", set()),
      ("{adj_cap} design that gets noticed.", set()),
      ("Made to fit right into real life.", set()),
      ("One of those pieces you keep coming back to.", set()),
      ("Instantly {adj}, endlessly {adj2}.", set()),
      ("Part {quality}, part {adj}, all yours.", set()))
_more("product", "occasion",
      ("Ready to go for {usage}.", {"usage"}),
      ("Put it to work for {usage}.", {"usage"}),
      ("Perfectly at ease with {usage}.", {"usage"}),
      ("Think of it for {usage}.", {"usage"}),
      ("Right at home for {usage} this {season}.", {"usage", "season"}),
      ("A {adj} way into {season}, made for {usage}.", {"usage", "season"}),
      ("Pack it for {usage} this {season}.", {"usage", "season"}),
      ("From {usage} to {season} weekends, it works.", {"usage", "season"}),
      ("Expect to wear it a lot this {season}.", {"season"}),
      ("A {season} keeper.", {"season"}))
_more("instagram", "lead",
      ("Current mood: {lead_a}{for_gender}.", set()),
      ("Can't stop wearing {lead_this}.", set()),
      ("New in and already a favourite: {lead_a}.", set()),
      ("Say yes to {lead_this}.", set()))
_more("instagram", "occasion",
      ("Tag someone who needs this for {usage}.", {"usage"}),
      ("Ready for {usage}? Same.", {"usage"}),
      ("{season} plans: sorted.", {"season"}))

#: Words with no colour, fabric, garment or gender claim, for variety (the guard finds none of them).
ADJECTIVES = ["versatile", "polished", "easy-going", "timeless", "modern", "understated", "comfortable", "refined",
              "classic", "smart", "fresh", "dependable", "crisp", "neat", "striking", "subtle", "bold", "handsome",
              "graceful", "confident", "breezy", "sleek", "elegant", "playful", "chic", "tidy", "mellow", "stylish",
              "trusty", "low-key", "charming", "spirited", "easygoing", "carefree", "cheerful", "sunny", "steady",
              "honest", "lively", "unfussy", "effortless", "clean-cut", "dapper", "upbeat", "airy",
              "cool", "vibrant", "fuss-free", "minimal", "poised", "composed", "thoughtful", "contemporary",
              "gentle", "practical", "sturdy", "flattering", "wearable", "dynamic", "youthful", "sophisticated",
              "uplifting", "serene", "quirky", "grown-up"]
QUALITIES = ["easy", "clean", "smart", "modern", "relaxed", "polished", "timeless", "casual", "neat", "fresh",
             "confident", "balanced", "tailored", "soft", "structured", "graceful", "sleek", "calm", "lively",
             "refined", "sharp", "breezy", "quiet", "crisp", "elegant", "effortless", "minimal",
             "upbeat", "composed", "grown-up", "contemporary", "gentle", "easygoing", "thoughtful"]
ACCENTS = ["details", "accents", "touches", "trim", "highlights", "hints", "flashes", "notes", "detailing"]
VERBS = ["Made", "Designed", "Built", "Cut", "Styled", "Shaped", "Chosen", "Meant"]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def colour_phrase(g: GarmentEvidence, accent: str = "details") -> tuple[str, str]:
    """('navy blue and white', '') for two strong colours; ('navy blue', ' with white details') for an accent."""
    names = ["multicoloured" if c.name == "Multi" else c.name.lower() for c in g.colours]
    if len(names) == 2 and names[0] != names[1]:
        if g.colours[1].share >= 0.3:
            return f"{names[0]} and {names[1]}", ""
        return names[0], f" with {names[1]} {accent}"
    return (names[0] if names else ""), ""


def garment_noun(g: GarmentEvidence) -> tuple[str, bool]:
    """The garment word: the article type's noun, else the confident broader word ('top'), else 'piece'."""
    if g.article_type:
        return vocab.article_noun(g.article_type)
    if g.article_word:
        plural = next((pl for w, pl, _ in vocab.GENERIC_ARTICLE_WORDS if w == g.article_word), False)
        return g.article_word, plural
    return "piece", False


def detail(g: GarmentEvidence, facet: str) -> str:
    return next((d.value for d in g.details if d.facet == facet), "")


def garment_phrase(g: GarmentEvidence, accent: str = "details") -> tuple[str, bool]:
    """'navy blue striped cotton shirt' and whether it is grammatically plural. Unknown article -> 'piece'."""
    noun, plural = garment_noun(g)
    colour, accented = colour_phrase(g, accent)
    pattern = detail(g, "pattern")
    parts = [colour, pattern, g.fabric.lower() if g.fabric else "", noun]
    return " ".join(p for p in parts if p) + accented, plural


def with_article(phrase: str, plural: bool, *, this: bool = False) -> str:
    if plural:
        return "these " + phrase if this else phrase
    if this:
        return "this " + phrase
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class TemplateWriter(Writer):
    """Offline, deterministic, grounded by construction."""

    name = "template"
    merge_evidence_hashtags = False

    def draft(
        self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int, feedback: Optional[str] = None
    ) -> Draft:
        from . import hashtags

        if not evidence.garments:
            return Draft("", [])
        facts = json.dumps({k: v for k, v in evidence_payload(evidence).items() if k != "style_examples"},
                           sort_keys=True)
        rng = random.Random(hashlib.sha256(f"{seed}|{style}|{facts}".encode()).hexdigest())
        lead, *others = evidence.garments
        gender = lead.gender or evidence.look_gender()
        accent = rng.choice(ACCENTS)
        lead_text, lead_plural = garment_phrase(lead, accent)
        other_phrases = [garment_phrase(g, accent) for g in others[:3]]
        usage = lead.usage or next((g.usage for g in others if g.usage), None)
        season = lead.season or next((g.season for g in others if g.season), None)
        slots = {
            "lead": lead_text,
            "lead_a": with_article(lead_text, lead_plural),
            "lead_this": with_article(lead_text, lead_plural, this=True),
            "lead_all": _join([lead_text] + [p for p, _ in other_phrases]),
            "for_gender": (" " + rng.choice(GENDER_FOR_ALT.get(gender, (GENDER_FOR[gender],))))
            if gender in GENDER_FOR else "",
            "gender_adj": GENDER_ADJ.get(gender or "", ""),
            "others_a": _join([with_article(p, pl) for p, pl in other_phrases]) if other_phrases else "",
            "usage": rng.choice(USAGE_PHRASES.get(usage, (f"{usage.lower()} wear",))) if usage else "",
            "usage_word": USAGE_WORD.get(usage or "", (usage or "").capitalize()),
            "usage_word_low": USAGE_WORD.get(usage or "", usage or "").lower(),
            "season": rng.choice(SEASON_WORDS.get(season, (season.lower(),))) if season else "",
        }
        slots["season_cap"] = _cap(slots["season"])
        used: set[str] = set()

        def refresh() -> None:
            # new claim-free words for every sentence, never one already used in this caption
            adjs = rng.sample([a for a in ADJECTIVES if a not in used], 2)
            quality = rng.choice([q for q in QUALITIES if q not in used and q not in adjs])
            used.update(adjs + [quality])
            slots.update(adj=adjs[0], adj2=adjs[1], adj_cap=_cap(adjs[0]), quality=quality,
                         adj_a=_cap(with_article(adjs[0] + " x", False)[:-2]),
                         a_quality=with_article(quality, False), verb_cap=rng.choice(VERBS))

        refresh()
        slots.update(pattern=detail(lead, "pattern"), fit=detail(lead, "fit"),
                     pattern_cap=_cap(detail(lead, "pattern")))
        have = {k for k, v in slots.items() if v}
        if gender in GENDER_ADJ:
            have.add("gender")
        have.add("lead_plural" if lead_plural else "lead_single")
        if other_phrases:
            plural_others = len(other_phrases) > 1 or other_phrases[0][1]
            have.add("others_plural" if plural_others else "others_single")
        bank = BANKS[style]
        sentences = [self._pick(bank["lead"], have, rng, slots)]
        if other_phrases and "others" in bank and not ({"pattern", "fit"} & have and rng.random() < 0.5):
            sentences.append(self._pick(bank["others"], have, rng, slots, refresh=refresh))
        elif "detail" in bank and {"pattern", "fit"} & have:
            sentences.append(self._pick(bank["detail"], have, rng, slots, refresh=refresh))
        occasion = self._pick(bank["occasion"], have, rng, slots, prefer_specific=True, refresh=refresh)
        if len(sentences) == 1 and "closing" in bank:
            # two sentences say every fact we have; a third, claim-free one varies the rhythm
            extra = self._pick(bank["closing"], have, rng, slots, refresh=refresh)
            sentences += [occasion, extra] if rng.random() < 0.5 else [extra, occasion]
        else:
            sentences.append(occasion)
        caption = " ".join(_cap(s) for s in sentences[:3])
        return Draft(caption, hashtags.make_hashtags(evidence, count=n_hashtags, seed=seed))

    @staticmethod
    def _pick(entries: list[tuple[str, frozenset[str]]], have: set[str], rng: random.Random, slots: dict[str, str],
              prefer_specific: bool = False, refresh=None) -> str:
        usable = [(t, req) for t, req in entries if req <= have]
        if prefer_specific:
            # Say the most we know: phrasings that need the most facts we have; every other time one fact fewer,
            # so that not every caption ends on its season
            most = max(len(req) for _, req in usable)
            level = most if rng.random() < 0.5 or most == 0 else most - 1
            usable = [(t, req) for t, req in usable if len(req) == level] or \
                [(t, req) for t, req in usable if len(req) == most]
        text, _ = rng.choice(usable)
        if refresh is not None:
            refresh()
        return text.format(**slots)


@register("template")
def _create(**kwargs) -> TemplateWriter:
    return TemplateWriter(**kwargs)
