"""The words of the patient decision aid (spinetrack's own plain wording, written for a reading
grade of 8 or below): the names and explanations of the options, procedure families and
conditions, the question and answer wording of each outcome, and the fixed sentences (where a
number comes from, the urgent and unscreened messages, the demo and range notes).

Every text is English source text marked with ``N_`` (extracted into the ``decision`` catalog,
``locale/decision.cfg``) and translated where it is shown, with
:func:`spinetrack.i18n.gettext` in the current language (``i18n.use_locale``).
"""

from __future__ import annotations

from dataclasses import dataclass

from spinetrack.i18n import N_

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
OPTION_NAMES = {"conservative": N_("Care without surgery"), "mis": N_("Keyhole surgery"), "open": N_("Open surgery")}
OPTION_ABOUT = {
    "conservative": N_("This means exercise, physiotherapy, pain medicine and sometimes an injection. "
                       "There is no operation."),
    "mis": N_("The surgeon works through a small cut, using special tools and X-rays. "
              "Doctors call this minimally invasive surgery."),
    "open": N_("The surgeon works through a larger cut, to see the spine directly."),
}
FAMILY_ABOUT = {
    "discectomy": N_("The operation takes out the part of the disc that presses on the nerve."),
    "decompression": N_("The operation makes more room for the nerves in the spine."),
    "fusion": N_("The operation joins two or more bones of the spine so they no longer move."),
}
CONDITION_NAMES = {
    "disc_herniation_radiculopathy": N_("a slipped disc pressing on a nerve"),
    "stenosis_without_claudication": N_("a narrow spine"),
    "stenosis_with_claudication": N_("a narrow spine that causes leg pain when you walk"),
    "degenerative_disc_disease": N_("worn discs in your lower back"),
    "degenerative_spondylolisthesis": N_("a slipped bone in your lower back"),
    "nonspecific_low_back_pain": N_("low back pain"),
}


@dataclass(frozen=True)
class OutcomeWords:
    """The words of one outcome (each an ``N_``-marked English text, translated where shown)."""

    question: str                   # the row of the side-by-side table and the section heading
    event: str = ""                 # probability: "Out of 100 people …, about 62 <event>."
    scale: str = ""                 # mean: what the scale means
    subject: str = ""               # mean: "After one year, <subject> is about 18 out of 100"
    out_of: int = 0                 # mean: the top of the scale
    days: str = ""                  # median days: "Half of the people <days> within about 2 days."
    spread: str = ""                # range: "9 in 10 people like you " + spread with %(a)s and %(b)s filled in
    short: str = ""                 # the summary's short name of the question ("Feel clearly better")


_PAIN_SCALE = N_("Pain is scored from 0 to 10. A score of 0 means no pain. "
                 "A score of 10 means the worst pain you can think of.")

OUTCOME_WORDS: dict[str, OutcomeWords] = {
    "odi_mcid_12m": OutcomeWords(N_("How many people feel clearly better in daily life after one year?"),
                                  event=N_("feel clearly better in daily life after one year"),
                                  short=N_("Clearly better after one year")),
    "odi_12m": OutcomeWords(N_("How much does back pain get in the way of daily life after one year?"),
                             scale=N_("The score goes from 0 to 100. "
                                      "A score of 0 means it does not get in the way at all."),
                             subject=N_("the score"), out_of=100, spread=N_("had a score between %(a)s and %(b)s"),
                             short=N_("Daily life score after one year")),
    "nrs_leg_12m": OutcomeWords(N_("How bad is leg pain after one year?"), scale=_PAIN_SCALE,
                                 subject=N_("leg pain"), out_of=10, spread=N_("had leg pain between %(a)s and %(b)s"),
                                 short=N_("Leg pain after one year")),
    "nrs_back_12m": OutcomeWords(N_("How bad is back pain after one year?"), scale=_PAIN_SCALE,
                                  subject=N_("back pain"), out_of=10,
                                  spread=N_("had back pain between %(a)s and %(b)s"),
                                  short=N_("Back pain after one year")),
    "los_days": OutcomeWords(N_("How long do people stay in hospital?"), days=N_("go home from hospital"),
                              spread=N_("went home after %(a)s to %(b)s"), short=N_("Time in hospital")),
    "any_complication": OutcomeWords(N_("How many people have a problem caused by the treatment?"),
                                      event=N_("have a problem caused by the treatment, such as an infection"),
                                      short=N_("A problem caused by the treatment")),
    "return_to_activity_days": OutcomeWords(N_("How long until people are back to their usual activities?"),
                                             days=N_("are back to their usual activities"),
                                             spread=N_("were back after %(a)s to %(b)s"),
                                             short=N_("Back to usual activities")),
    "reoperation_2y": OutcomeWords(N_("How many people need another back operation within two years?"),
                                    event=N_("need another operation on the back within two years"),
                                    short=N_("Another operation within two years")),
}

# The same outcomes under the keys of spinetrack.predict.spec.OUTCOMES.
OUTCOME_ALIASES = {"leg_pain_12m": "nrs_leg_12m", "back_pain_12m": "nrs_back_12m", "length_of_stay": "los_days",
                   "return_to_activity": "return_to_activity_days"}


def outcome_words(key: str) -> OutcomeWords | None:
    return OUTCOME_WORDS.get(OUTCOME_ALIASES.get(key, key))


SOURCE_SENTENCES = {
    "clinic": N_("This comes from this clinic's patients."),
    "literature": N_("This comes from published studies, for an average patient, not adjusted to you."),
    "none": N_("There is no estimate for this."),
}
SOURCE_TAGS = {"clinic": N_("from this clinic's patients"), "literature": N_("from published studies")}
# The patient version never shows the document's urgent message, which is written for the
# clinician (it names the flag and speaks of referral); it shows this, in plain words.
URGENT_PATIENT_TEXT = N_("Some of your answers mean that a doctor needs to check your back today. "
                         "This comes before any talk about choices. "
                         "Your care team will help you get this check now. "
                         "If you are at home, go to the emergency department today. Do not wait for your next visit.")
URGENT_FALLBACK = "A red flag is present: urgent assessment is needed. No treatment comparison is shown."
UNSCREENED_TEXT = N_("Before we can talk about your choices, your care team needs to ask you some safety questions "
                     "about your back. Please ask them to do this first. Then they can show you your choices.")
SYNTHETIC_TEXT = N_("This is a demo. The numbers are made up for testing. Do not use them to make a real choice.")
RANGE_TEXT = N_("Some results come with a range of numbers. Nine in ten people like you had a result in that range. "
                "So the range shows how much people differ. Your own result could be anywhere in it. "
                "Now and then it falls outside it.")
NO_BASELINE_TEXT = N_("We do not have your own scores for pain and daily life from before treatment. "
                      "So the numbers here do not use them. This makes them less personal.")
NO_BASELINE_SENTENCE = N_("This does not use your own scores from before treatment. So it is less personal.")
MIXED_TEXT = N_("Careful: the numbers for this question come from different places. Some come from this clinic. "
                "Some come from published studies. So they are hard to compare.")
MIXED_TAG = N_("Numbers in this row come from different places.")
