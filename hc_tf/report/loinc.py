"""The LOINC codes of the quantities hc-tf reports, written once for both reports that name them:
the DICOM SR (scheme "LN", as CID 12005 Fetal Biometry Measurements, CID 12004 Fetal Biometry
Ratios and the GA's code hold them) and FHIR (system http://loinc.org)."""

HC = "11984-2"  # Fetal Head Circumference US
BPD = "11820-8"  # Biparietal Diameter
OFD = "11851-3"  # Occipital-Frontal Diameter
CORRECTED_BPD = "11824-0"  # BPD area corrected (Doubilet & Greenes)
CEPHALIC_INDEX = "11823-2"  # Cephalic Index, in %
GESTATIONAL_AGE = "18185-9"  # the GA an HC gives by an equation (CID 12019's "Gestational Age")
# The GA from dating as typed (LMP or an earlier scan): LOINC's "Gestational age Estimated", so a
# consumer searching by code tells it from the HC-derived GAs (18185-9) and from one by LMP
# (11885-1, a DICOM file's Last Menstrual Date). DICOM lists 11884-4 in CIDs 12012/12013 (as
# "Average Ultrasound Age"), not in CID 12019, which offers no code for a clinical estimate.
GESTATIONAL_AGE_ESTIMATED = "11884-4"
