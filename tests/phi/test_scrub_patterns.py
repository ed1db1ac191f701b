"""Free text in the minimum PHI mode, the edges of each pattern: identifiers written the ways notes write them
(hyphenated e-mail domains, URLs in brackets or quotes, numbers with a country code, a trunk prefix or a slash
between them, labels with and without their punctuation, addresses on long or six-digit streets, ages in every
spelling), and text that only looks like one and must stay as written (fluid balances, version numbers, p-values,
genetic variants, drug names, guideline ages)."""

from __future__ import annotations

import pytest

from epic_mcp.phi.scrub import Scrubber


def scrubbed(text: str) -> str:
    """The text as the minimum mode shows it for a patient the scrubber knows nothing of (patterns only)."""
    return Scrubber(None, 0).text(text)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Reply to mary-jane@example.org", "Reply to [email]", id="hyphen-in-the-name"),
    pytest.param("Send to j.doe@st-lukes.org today", "Send to [email] today", id="hyphen-in-the-domain"),
    pytest.param("cc nurse@mail.baylor-scott.org", "cc [email]", id="hyphen-in-a-later-label"),
])
def test_an_email_address_with_hyphens_is_scrubbed_whole(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Results at http://portal.example.org/x now", "Results at [url] now", id="http"),
    pytest.param("Scan on sftp://files.example.org/scan.pdf", "Scan on [url]", id="sftp"),
    pytest.param("Portal: <https://portal.example.org/x>", "Portal: <[url]>", id="angle-brackets"),
    pytest.param("see https://portal.example.org/x<br>Plan:", "see [url]<br>Plan:", id="html-after-the-url"),
    pytest.param('<a href="https://portal.example.org/x">portal</a>', '<a href="[url]">portal</a>',
                 id="double-quotes"),
    pytest.param("link 'https://portal.example.org/x' sent", "link '[url]' sent", id="single-quotes"),
    pytest.param("see www.example.org for details", "see [url] for details", id="www-then-words"),
    pytest.param("Portal: <www.example.org>", "Portal: <[url]>", id="www-in-angle-brackets"),
    pytest.param("see www.example.org/x<br>Plan:", "see [url]<br>Plan:", id="www-then-html"),
    pytest.param('site "www.example.org" given', 'site "[url]" given', id="www-in-double-quotes"),
    pytest.param("site 'www.example.org' given", "site '[url]' given", id="www-in-single-quotes"),
])
def test_a_url_is_scrubbed_and_the_text_around_it_stays(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Son in Moscow: +7 495 123-45-67.", "Son in Moscow: [phone].", id="one-digit-country-code"),
    pytest.param("Son in Moscow: +7-495-123-45-67.", "Son in Moscow: [phone].", id="hyphen-after-the-country-code"),
    pytest.param("Daughter in Rabat: +212 6 12 34 56 78.", "Daughter in Rabat: [phone].",
                 id="three-digit-country-code-and-five-groups"),
    pytest.param("Daughter: ++44 20 7946 0958", "Daughter: +[phone]", id="doubled-plus"),
    pytest.param("Call 1 469 555 0134 after 5pm", "Call [phone] after 5pm", id="trunk-1-and-spaces"),
    pytest.param("Call 1 (469) 555-0134 after 5pm", "Call [phone] after 5pm", id="trunk-1-and-brackets"),
    pytest.param("Call 1(800) 555-0199 after 5pm", "Call [phone] after 5pm", id="trunk-1-glued-to-brackets"),
    pytest.param("home/cell 469-555-0134/972-555-0188", "home/cell [phone]/[phone]", id="two-numbers-and-a-slash"),
    pytest.param("Office 469-555-0134x12", "Office [phone]x12", id="extension-glued"),
    pytest.param("Room 11 469-555-0134", "Room 11 [phone]", id="a-room-number-before-it-stays"),
    pytest.param("Free line 0120-12-3456.", "Free line [phone].", id="japanese-toll-free"),
    pytest.param("Hachijojima clinic 04996-2-1234.", "Hachijojima clinic [phone].", id="japanese-five-digit-area"),
    pytest.param("host 192.168.10.254 down", "host [ip] down", id="ip-with-three-digit-groups"),
])
def test_a_phone_number_or_address_written_another_way_is_scrubbed(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


@pytest.mark.parametrize("text", [
    pytest.param("I/O: in 1200+1500 mL", id="a-sum-of-volumes"),
    pytest.param("Urine output 1100 900 1400 mL on days 1-3", id="three-volumes"),
    pytest.param("Epic client v2.3.1.0 installed", id="a-version-number"),
    pytest.param("ICD-O-3 morphology 8140-03-1234 noted", id="a-code-like-an-ssn-inside-a-longer-one"),
    pytest.param("Implant REF 2024-0123-456 placed", id="a-catalog-number-like-a-japanese-phone"),
    pytest.param("Image file scan_2024-01-15-0930.pdf", id="a-timestamped-file-name"),
    pytest.param("Lot 03-1234-5678A used", id="a-lot-number"),
    pytest.param("Catalog 0123-456-789-0 ordered", id="a-catalog-number-with-a-check-digit"),
    pytest.param("APOL1 variant rs73885319 found", id="a-genetic-variant-id"),
    pytest.param("GWAS p = 0.0000003", id="a-p-value"),
    pytest.param("GWAS p = 0,0000003", id="a-p-value-with-a-decimal-comma"),
    pytest.param("Viral load 1250000.0 copies/mL", id="a-large-decimal"),
    pytest.param("Viral load 1250000,0 copies/mL", id="a-large-decimal-with-a-comma"),
    pytest.param("CD34+ cells 2500000x2 infused", id="a-count-times-a-factor"),
    pytest.param("Took 2 Extra Strength Tylenol", id="a-drug-name-after-a-number"),
    pytest.param("Transferred from Covid19 Ward St. Mary's Hospital", id="a-ward-name-after-a-digit"),
])
def test_clinical_text_that_looks_like_an_identifier_stays_as_written(text: str) -> None:
    assert scrubbed(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("MRN: 203713", "MRN: [number]"),
    ("MRN#: 203713", "MRN#: [number]"),
    ("MRNo. 55667", "MRNo. [number]"),
    ("MR No 55667", "MR No [number]"),
    ("MR No. 55667", "MR No. [number]"),
    ("CSN: 88812", "CSN: [number]"),
    ("acct 55667", "acct [number]"),
    ("acct. 55667", "acct. [number]"),
    ("Account no 44556", "Account no [number]"),
    ("Account no. 44556", "Account no. [number]"),
    ("accession 1234:5678", "accession [number]"),
    ("Accession 240-15-00123", "Accession [number]"),
    ("Medical record no. 00123", "Medical record no. [number]"),
    ("insurance id XQ-4411", "insurance id [number]"),
    ("visit # 44556", "visit # [number]"),
    ("Order#: 55123", "Order#: [number]"),
    ("Order number #55123", "Order number #[number]"),
    ("保険者番号 138057", "保険者番号 [number]"),
    ("記号番号 1234-56", "記号番号 [number]"),
    ("患者番号 20371", "患者番号 [number]"),
    ("診療録番号 20371", "診療録番号 [number]"),
    ("カルテ番号 20371", "カルテ番号 [number]"),
])
def test_a_short_labelled_number_is_scrubbed_whatever_the_labels_punctuation(text: str, expected: str) -> None:
    """Numbers of fewer than seven digits, which only their label gives away (seven or more are scrubbed anyway)."""
    assert scrubbed(text) == expected


SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr", "Lane", "Ln", "Way",
            "Court", "Ct", "Place", "Pl", "Terrace", "Circle", "Parkway", "Highway", "Hwy"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_street_address_is_scrubbed_whatever_the_street_type(suffix: str) -> None:
    assert scrubbed(f"Lives at 12 Oak {suffix} with her son") == "Lives at [address] with her son"


@pytest.mark.parametrize("address", [
    pytest.param("1600 Martin Luther King Drive", id="three-word-name"),
    pytest.param("104001 Overseas Highway", id="six-digit-number"),
    pytest.param("12  Oak  Street", id="double-spaces"),
])
def test_a_street_address_written_long_is_scrubbed(address: str) -> None:
    assert scrubbed(f"Lives at {address} with her son") == "Lives at [address] with her son"


@pytest.mark.parametrize(("text", "expected"), [
    ("A 95 year old man", "A 90+ year old man"),
    ("A 95 yr old man", "A 90+ yr old man"),
    ("A 95-years-old man", "A 90+-years-old man"),
    ("A 95-yr-old man", "A 90+-yr-old man"),
    ("a 95-y/o woman", "a 90+-y/o woman"),
    ("92 YO male", "90+ YO male"),
    ("A 95 Years Old man", "A 90+ Years Old man"),
    ("First fall at age 95", "First fall at age 90+"),
    ("Age:93", "Age: 90+"),
    ("aged 101", "aged 90+"),
])
def test_an_age_over_89_is_shown_as_90_plus_in_every_spelling(text: str, expected: str) -> None:
    assert scrubbed(text) == expected


@pytest.mark.parametrize("text", [
    pytest.param("Trials rarely enrol 90-year-olds", id="a-group-of-people"),
    pytest.param("Willow bark, a 2400-year-old remedy", id="the-age-of-a-remedy"),
    pytest.param("Compared with a cohort of 120 young adults", id="a-count-before-young"),
    pytest.param("Dosage 100 mg twice daily", id="dosage"),
    pytest.param("Average 95 bpm overnight", id="average"),
    pytest.param("BMI-for-age 97th percentile", id="a-percentile"),
])
def test_a_number_near_an_age_word_that_is_no_ones_age_stays(text: str) -> None:
    assert scrubbed(text) == text
