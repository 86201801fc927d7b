"""The closed vocabularies of the payloads: moods, activities, calendar states.

The mood and activity enums are exactly the element names of the official schemas
(``shared/tests`` checks them against ../shared/xep-schemas), so an enum member always
encodes to a schema-valid element.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ACTIVITY_TAXONOMY",
    "CalendarStatus",
    "GeneralActivity",
    "MoodValue",
    "SpecificActivity",
    "is_valid_activity",
]


class MoodValue(StrEnum):
    """Every mood of the XEP-0107 (1.2.2) schema, in schema order."""

    AFRAID = "afraid"
    AMAZED = "amazed"
    ANGRY = "angry"
    AMOROUS = "amorous"
    ANNOYED = "annoyed"
    ANXIOUS = "anxious"
    AROUSED = "aroused"
    ASHAMED = "ashamed"
    BORED = "bored"
    BRAVE = "brave"
    CALM = "calm"
    CAUTIOUS = "cautious"
    COLD = "cold"
    CONFIDENT = "confident"
    CONFUSED = "confused"
    CONTEMPLATIVE = "contemplative"
    CONTENTED = "contented"
    CRANKY = "cranky"
    CRAZY = "crazy"
    CREATIVE = "creative"
    CURIOUS = "curious"
    DEJECTED = "dejected"
    DEPRESSED = "depressed"
    DISAPPOINTED = "disappointed"
    DISGUSTED = "disgusted"
    DISMAYED = "dismayed"
    DISTRACTED = "distracted"
    EMBARRASSED = "embarrassed"
    ENVIOUS = "envious"
    EXCITED = "excited"
    FLIRTATIOUS = "flirtatious"
    FRUSTRATED = "frustrated"
    GRUMPY = "grumpy"
    GUILTY = "guilty"
    HAPPY = "happy"
    HOPEFUL = "hopeful"
    HOT = "hot"
    HUMBLED = "humbled"
    HUMILIATED = "humiliated"
    HUNGRY = "hungry"
    HURT = "hurt"
    IMPRESSED = "impressed"
    IN_AWE = "in_awe"
    IN_LOVE = "in_love"
    INDIGNANT = "indignant"
    INTERESTED = "interested"
    INTOXICATED = "intoxicated"
    INVINCIBLE = "invincible"
    JEALOUS = "jealous"
    LONELY = "lonely"
    LUCKY = "lucky"
    MEAN = "mean"
    MOODY = "moody"
    NERVOUS = "nervous"
    NEUTRAL = "neutral"
    OFFENDED = "offended"
    OUTRAGED = "outraged"
    PLAYFUL = "playful"
    PROUD = "proud"
    RELAXED = "relaxed"
    RELIEVED = "relieved"
    REMORSEFUL = "remorseful"
    RESTLESS = "restless"
    SAD = "sad"
    SARCASTIC = "sarcastic"
    SERIOUS = "serious"
    SHOCKED = "shocked"
    SHY = "shy"
    SICK = "sick"
    SLEEPY = "sleepy"
    SPONTANEOUS = "spontaneous"
    STRESSED = "stressed"
    STRONG = "strong"
    SURPRISED = "surprised"
    THANKFUL = "thankful"
    THIRSTY = "thirsty"
    TIRED = "tired"
    UNDEFINED = "undefined"
    WEAK = "weak"
    WORRIED = "worried"


class GeneralActivity(StrEnum):
    """Every general activity of the XEP-0108 (1.3) schema."""

    DOING_CHORES = "doing_chores"
    DRINKING = "drinking"
    EATING = "eating"
    EXERCISING = "exercising"
    GROOMING = "grooming"
    HAVING_APPOINTMENT = "having_appointment"
    INACTIVE = "inactive"
    RELAXING = "relaxing"
    TALKING = "talking"
    TRAVELING = "traveling"
    UNDEFINED = "undefined"
    WORKING = "working"


class SpecificActivity(StrEnum):
    """Every specific activity of the XEP-0108 (1.3) schema."""

    AT_THE_SPA = "at_the_spa"
    BRUSHING_TEETH = "brushing_teeth"
    BUYING_GROCERIES = "buying_groceries"
    CLEANING = "cleaning"
    CODING = "coding"
    COMMUTING = "commuting"
    COOKING = "cooking"
    CYCLING = "cycling"
    DANCING = "dancing"
    DAY_OFF = "day_off"
    DOING_MAINTENANCE = "doing_maintenance"
    DOING_THE_DISHES = "doing_the_dishes"
    DOING_THE_LAUNDRY = "doing_the_laundry"
    DRIVING = "driving"
    FISHING = "fishing"
    GAMING = "gaming"
    GARDENING = "gardening"
    GETTING_A_HAIRCUT = "getting_a_haircut"
    GOING_OUT = "going_out"
    HANGING_OUT = "hanging_out"
    HAVING_A_BEER = "having_a_beer"
    HAVING_A_SNACK = "having_a_snack"
    HAVING_BREAKFAST = "having_breakfast"
    HAVING_COFFEE = "having_coffee"
    HAVING_DINNER = "having_dinner"
    HAVING_LUNCH = "having_lunch"
    HAVING_TEA = "having_tea"
    HIDING = "hiding"
    HIKING = "hiking"
    IN_A_CAR = "in_a_car"
    IN_A_MEETING = "in_a_meeting"
    IN_REAL_LIFE = "in_real_life"
    JOGGING = "jogging"
    ON_A_BUS = "on_a_bus"
    ON_A_PLANE = "on_a_plane"
    ON_A_TRAIN = "on_a_train"
    ON_A_TRIP = "on_a_trip"
    ON_THE_PHONE = "on_the_phone"
    ON_VACATION = "on_vacation"
    ON_VIDEO_PHONE = "on_video_phone"
    OTHER = "other"
    PARTYING = "partying"
    PLAYING_SPORTS = "playing_sports"
    PRAYING = "praying"
    READING = "reading"
    REHEARSING = "rehearsing"
    RUNNING = "running"
    RUNNING_AN_ERRAND = "running_an_errand"
    SCHEDULED_HOLIDAY = "scheduled_holiday"
    SHAVING = "shaving"
    SHOPPING = "shopping"
    SKIING = "skiing"
    SLEEPING = "sleeping"
    SMOKING = "smoking"
    SOCIALIZING = "socializing"
    STUDYING = "studying"
    SUNBATHING = "sunbathing"
    SWIMMING = "swimming"
    TAKING_A_BATH = "taking_a_bath"
    TAKING_A_SHOWER = "taking_a_shower"
    THINKING = "thinking"
    WALKING = "walking"
    WALKING_THE_DOG = "walking_the_dog"
    WATCHING_A_MOVIE = "watching_a_movie"
    WATCHING_TV = "watching_tv"
    WORKING_OUT = "working_out"
    WRITING = "writing"


class CalendarStatus(StrEnum):
    """What the user's calendar says about them right now."""

    FREE = "free"
    BUSY = "busy"
    OUT_OF_OFFICE = "out_of_office"
    VACATION = "vacation"
    TRAVELLING = "travelling"


_G = GeneralActivity
_S = SpecificActivity

# XEP-0108 §3: the specific activities RECOMMENDED for each general activity (v1.3). The XEP
# lets a client put any specific under any general, but then "working/driving" would be
# publishable; pepline only emits (and accepts) the recommended pairs, plus <other/>, which
# §3 allows under every general activity.
ACTIVITY_TAXONOMY: Final = MappingProxyType(
    {
        _G.DOING_CHORES: frozenset(
            {
                _S.BUYING_GROCERIES,
                _S.CLEANING,
                _S.COOKING,
                _S.DOING_MAINTENANCE,
                _S.DOING_THE_DISHES,
                _S.DOING_THE_LAUNDRY,
                _S.GARDENING,
                _S.RUNNING_AN_ERRAND,
                _S.WALKING_THE_DOG,
            }
        ),
        _G.DRINKING: frozenset({_S.HAVING_A_BEER, _S.HAVING_COFFEE, _S.HAVING_TEA}),
        _G.EATING: frozenset(
            {_S.HAVING_A_SNACK, _S.HAVING_BREAKFAST, _S.HAVING_DINNER, _S.HAVING_LUNCH}
        ),
        _G.EXERCISING: frozenset(
            {
                _S.CYCLING,
                _S.DANCING,
                _S.HIKING,
                _S.JOGGING,
                _S.PLAYING_SPORTS,
                _S.RUNNING,
                _S.SKIING,
                _S.SWIMMING,
                _S.WORKING_OUT,
            }
        ),
        _G.GROOMING: frozenset(
            {
                _S.AT_THE_SPA,
                _S.BRUSHING_TEETH,
                _S.GETTING_A_HAIRCUT,
                _S.SHAVING,
                _S.TAKING_A_BATH,
                _S.TAKING_A_SHOWER,
            }
        ),
        _G.HAVING_APPOINTMENT: frozenset[SpecificActivity](),
        _G.INACTIVE: frozenset(
            {
                _S.DAY_OFF,
                _S.HANGING_OUT,
                _S.HIDING,
                _S.ON_VACATION,
                _S.PRAYING,
                _S.SCHEDULED_HOLIDAY,
                _S.SLEEPING,
                _S.THINKING,
            }
        ),
        _G.RELAXING: frozenset(
            {
                _S.FISHING,
                _S.GAMING,
                _S.GOING_OUT,
                _S.PARTYING,
                _S.READING,
                _S.REHEARSING,
                _S.SHOPPING,
                _S.SMOKING,
                _S.SOCIALIZING,
                _S.SUNBATHING,
                _S.WATCHING_TV,
                _S.WATCHING_A_MOVIE,
            }
        ),
        _G.TALKING: frozenset({_S.IN_REAL_LIFE, _S.ON_THE_PHONE, _S.ON_VIDEO_PHONE}),
        _G.TRAVELING: frozenset(
            {
                _S.COMMUTING,
                _S.CYCLING,
                _S.DRIVING,
                _S.IN_A_CAR,
                _S.ON_A_BUS,
                _S.ON_A_PLANE,
                _S.ON_A_TRAIN,
                _S.ON_A_TRIP,
                _S.WALKING,
            }
        ),
        _G.UNDEFINED: frozenset[SpecificActivity](),
        _G.WORKING: frozenset({_S.CODING, _S.IN_A_MEETING, _S.STUDYING, _S.WRITING}),
    }
)


def is_valid_activity(general: GeneralActivity, specific: SpecificActivity | None) -> bool:
    """Whether ``general/specific`` is a pair pepline may publish (see ACTIVITY_TAXONOMY)."""
    if specific is None or specific is SpecificActivity.OTHER:
        return True
    return specific in ACTIVITY_TAXONOMY[general]
