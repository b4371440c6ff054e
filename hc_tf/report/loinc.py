"""The LOINC codes of the quantities hc-tf reports, written once for both reports that name them:
the DICOM SR (scheme "LN", as CID 12005 Fetal Biometry Measurements, CID 12004 Fetal Biometry
Ratios and the GA's code hold them) and FHIR (system http://loinc.org)."""

HC = "11984-2"  # Fetal Head Circumference US
BPD = "11820-8"  # Biparietal Diameter
OFD = "11851-3"  # Occipital-Frontal Diameter
CORRECTED_BPD = "11824-0"  # BPD area corrected (Doubilet & Greenes)
CEPHALIC_INDEX = "11823-2"  # Cephalic Index, in %
GESTATIONAL_AGE = "18185-9"
