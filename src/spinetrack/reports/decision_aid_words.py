"""The words of the patient decision aid (spinetrack's own plain wording, written for a reading
grade of 8 or below): the names and explanations of the options, procedure families and
conditions, the question and answer wording of each outcome, and the fixed sentences (where a
number comes from, the urgent and unscreened messages, the demo and range notes).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONDITION_NAMES",
    "FAMILY_ABOUT",
    "MIXED_TAG",
    "MIXED_TEXT",
    "NO_BASELINE_SENTENCE",
    "NO_BASELINE_TEXT",
    "OPTION_ABOUT",
    "OPTION_NAMES",
    "OUTCOME_ALIASES",
    "OUTCOME_WORDS",
    "RANGE_TEXT",
    "SOURCE_SENTENCES",
    "SOURCE_TAGS",
    "SYNTHETIC_TEXT",
    "UNSCREENED_TEXT",
    "URGENT_FALLBACK",
    "URGENT_PATIENT_TEXT",
    "OutcomeWords",
    "outcome_words",
]


# Plain names of the options and of the conditions (spinetrack's own wording).
OPTION_NAMES = {"conservative": "Care without surgery", "mis": "Keyhole surgery", "open": "Open surgery"}
OPTION_ABOUT = {
    "conservative": "This means exercise, physiotherapy, pain medicine and sometimes an injection. "
                    "There is no operation.",
    "mis": "The surgeon works through a small cut, using special tools and X-rays. "
           "Doctors call this minimally invasive surgery.",
    "open": "The surgeon works through a larger cut, to see the spine directly.",
}
FAMILY_ABOUT = {
    "discectomy": "The operation takes out the part of the disc that presses on the nerve.",
    "decompression": "The operation makes more room for the nerves in the spine.",
    "fusion": "The operation joins two or more bones of the spine so they no longer move.",
}
CONDITION_NAMES = {
    "disc_herniation_radiculopathy": "a slipped disc pressing on a nerve",
    "stenosis_without_claudication": "a narrow spine",
    "stenosis_with_claudication": "a narrow spine that causes leg pain when you walk",
    "degenerative_disc_disease": "worn discs in your lower back",
    "degenerative_spondylolisthesis": "a slipped bone in your lower back",
    "nonspecific_low_back_pain": "low back pain",
}


@dataclass(frozen=True)
class OutcomeWords:
    question: str                   # the row of the side-by-side table and the section heading
    event: str = ""                 # probability: "Out of 100 people …, about 62 <event>."
    scale: str = ""                 # mean: what the scale means
    subject: str = ""               # mean: "After one year, <subject> is about 18 out of 100"
    out_of: int = 0                 # mean: the top of the scale
    days: str = ""                  # median days: "Half of the people <days> within about 2 days."
    spread: str = ""                # range: "9 in 10 people like you " + spread with {a} and {b} filled in


OUTCOME_WORDS: dict[str, OutcomeWords] = {
    "odi_mcid_12m": OutcomeWords("How many people feel clearly better in daily life after one year?",
                                  event="feel clearly better in daily life after one year"),
    "odi_12m": OutcomeWords("How much does back pain get in the way of daily life after one year?",
                             scale="The score goes from 0 to 100. "
                                   "A score of 0 means it does not get in the way at all.",
                             subject="the score", out_of=100, spread="had a score between {a} and {b}"),
    "nrs_leg_12m": OutcomeWords("How bad is leg pain after one year?",
                                 scale="Pain is scored from 0 to 10. A score of 0 means no pain. "
                                       "A score of 10 means the worst pain you can think of.",
                                 subject="leg pain", out_of=10, spread="had leg pain between {a} and {b}"),
    "nrs_back_12m": OutcomeWords("How bad is back pain after one year?",
                                  scale="Pain is scored from 0 to 10. A score of 0 means no pain. "
                                        "A score of 10 means the worst pain you can think of.",
                                  subject="back pain", out_of=10, spread="had back pain between {a} and {b}"),
    "los_days": OutcomeWords("How long do people stay in hospital?", days="go home from hospital",
                              spread="went home after {a} to {b}"),
    "any_complication": OutcomeWords("How many people have a problem caused by the treatment?",
                                      event="have a problem caused by the treatment, such as an infection"),
    "return_to_activity_days": OutcomeWords("How long until people are back to their usual activities?",
                                             days="are back to their usual activities",
                                             spread="were back after {a} to {b}"),
    "reoperation_2y": OutcomeWords("How many people need another back operation within two years?",
                                    event="need another operation on the back within two years"),
}

# The same outcomes under the keys of spinetrack.predict.spec.OUTCOMES.
OUTCOME_ALIASES = {"leg_pain_12m": "nrs_leg_12m", "back_pain_12m": "nrs_back_12m", "length_of_stay": "los_days",
                   "return_to_activity": "return_to_activity_days"}


def outcome_words(key: str) -> OutcomeWords | None:
    return OUTCOME_WORDS.get(OUTCOME_ALIASES.get(key, key))


SOURCE_SENTENCES = {
    "clinic": "This comes from this clinic's patients.",
    "literature": "This comes from published studies, for an average patient, not adjusted to you.",
    "none": "There is no estimate for this.",
}
SOURCE_TAGS = {"clinic": "from this clinic", "literature": "from published studies"}
# The patient version never shows the document's urgent message, which is written for the
# clinician (it names the flag and speaks of referral); it shows this, in plain words.
URGENT_PATIENT_TEXT = ("Some of your answers mean that a doctor needs to check your back today. "
                       "This comes before any talk about choices. Your care team will help you get this check now. "
                       "If you are at home, go to the emergency department today. Do not wait for your next visit.")
URGENT_FALLBACK = "A red flag is present: urgent assessment is needed. No treatment comparison is shown."
UNSCREENED_TEXT = ("Before we can talk about your choices, your care team needs to ask you some safety questions "
                   "about your back. Please ask them to do this first. Then they can show you your choices.")
SYNTHETIC_TEXT = "This is a demo. The numbers are made up for testing. Do not use them to make a real choice."
RANGE_TEXT = ("Some results come with a range of numbers. Nine in ten people like you had a result in that range. "
              "So the range shows how much people differ. Your own result could be anywhere in it. "
              "Now and then it falls outside it.")
NO_BASELINE_TEXT = ("We do not have your own scores for pain and daily life from before treatment. "
                    "So the numbers here do not use them. This makes them less personal.")
NO_BASELINE_SENTENCE = "This does not use your own scores from before treatment. So it is less personal."
MIXED_TEXT = ("Careful: the numbers for this question come from different places. Some come from this clinic. "
              "Some come from published studies. So they are hard to compare.")
MIXED_TAG = "Numbers in this row come from different places."
