"""Interoperability: FHIR R4 (Questionnaire / QuestionnaireResponse for the PROM instruments)
and, later, the OMOP CDM mapping. Imports the pure core; never imported by it."""
