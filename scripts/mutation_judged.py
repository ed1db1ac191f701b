"""The judgments of scripts/mutation: survivors judged equivalent, and functions that run only at import.

Kept apart from the runner because they grow with every module mutated. A key is mutmut's name for a mutant
(module.x_function__mutmut_N) or the second pass's (module:CONSTANT#N); both follow positions in the code, so
check them against the diffs in docs/mutation.md when the code changes.
"""

from __future__ import annotations

# Survivors judged equivalent: the mutant behaves as the original for every input the code can receive. Keyed by
# mutmut's name; checked against the diff in docs/mutation.md when the code changes (names follow positions).
_ASCII_PATH = ("equivalent: httpx percent-encodes every URL it builds, so the raw path is always ASCII and "
               "decodes the same whatever the codec's spelling or error handler")
_FIRST_PART = "equivalent: the part before the first '?' is the same however many parts the split makes"
_DOT_SEGMENTS = ("equivalent: httpx removes '.' and '..' segments when it parses a URL, and an encoded one is caught "
                 "by the check before; this check stays as defence in depth should httpx ever keep them")
_METHOD_CASE = "equivalent: httpx sends the method in capitals however it is spelled"
_HEADER_CASE = "equivalent: HTTP header names are case-insensitive and httpx treats them so"
_UNREACHABLE = "equivalent: the retry loop returns or raises on its last attempt, so this line never runs"
_IGNORES_RESOURCE = "equivalent: the renderer called here does not use the resource it is handed"
_NO_REFERENCE = ("equivalent: the resource only serves to resolve a reference to a contained resource ('#id'), and "
                 "this element's FHIR types admit no Reference")
_RENDERED_EXTENSIONS = ("equivalent for every extension rendered this way (Epic's specialty, sex, race, ethnicity, "
                        "pronouns, temperature): they hold codes, strings and quantities, never a contained reference")
_NO_URL = "equivalent: an extension without a url ends with no suffix, whatever text stands in for the missing url"
_LAST_PART = "equivalent: the last part is the same however many splits are made"
_MISSING_RATIO = "equivalent: a missing Ratio renders as nothing whether or not the guard before it runs"
_JSON_MODE = ("equivalent: MCP results hold only strings, numbers, booleans, lists and objects, which pydantic "
              "dumps the same in python and JSON mode (an unknown mode is python mode)")
_CODEC_CASE = "equivalent: Python looks codecs up by name case-insensitively ('ASCII' is 'ascii')"
_RANDOM_KEY = ("equivalent: without EPIC_MCP_CURSOR_KEY the key material is random bytes only this process knows; "
               "HKDF derives a 32-byte key from any number of them (token_bytes(None) is 32 bytes)")
_NONE_DROPPED = "equivalent: values that are None are dropped just before, so a default of None never equals one"
_NAMED_BY_CODE = ("equivalent: a problem with codes always has a name (concept_label falls back to its first code), "
                  "so the default for a missing name is never used")
_FIELDS_SKIP = "equivalent: fields() leaves out id and resourceType itself, so leaving them out here changes nothing"
_TEXTS_ONCE = ("equivalent in what is shown: texts worked out anew are the texts worked out once (test_render.py's "
               "test_lines_and_pages_from_field_texts_worked_out_once_are_the_lines_and_pages_worked_out_anew); only "
               "the work is done twice")
_BEFORE_THE_STRENGTH = "equivalent: the part before the first digit is the same however many splits are made"
_NO_END_NO_WORDS = ("equivalent: judge reads how an end was found only when there is an end, so the words beside a "
                    "missing end are never shown")
_TYPED_RECORDS = ("equivalent: every record of a section keeps its resourceType, so none has the type '' (nor None, "
                  "nor 'XXXX') and each line names its type either way")
EQUIVALENT: dict[str, str] = {
    "epic_mcp.fhir.paging.x__unb64__mutmut_6": (
        "equivalent: a cursor's length leaves 0, 2 or 3 characters in its last group (padded alike by 0 or 2 '=', "
        "and by 1 or 3, which Python's base64 decodes the same: padding past the group is ignored), or 1, which no "
        "padding makes valid"),
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_10": "equivalent: HKDF's salt is None when not given",
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_16": _RANDOM_KEY,
    "epic_mcp.fhir.paging.xǁCursorCodecǁ__init____mutmut_17": _RANDOM_KEY,
    "epic_mcp.fhir.paging.xǁCursorCodecǁencode__mutmut_17": _CODEC_CASE,
    "epic_mcp.fhir.paging.xǁCursorCodecǁdecode__mutmut_25": _CODEC_CASE,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_4": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_5": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_15": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_16": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_17": _ASCII_PATH,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_9": _FIRST_PART,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_12": _FIRST_PART,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_25": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_26": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_27": _DOT_SEGMENTS,
    "epic_mcp.auth.urls.x_has_path_tricks__mutmut_28": _DOT_SEGMENTS,
    "epic_mcp.redaction.xǁRedactorǁremember__mutmut_9": (
        "equivalent: two remembered secrets can match at the same place only when one starts the other, and then "
        "reverse text order puts the longer first just as length does"),
    "epic_mcp.redaction.xǁRedactorǁremember__mutmut_12": (
        "equivalent: as mutmut_9 (sorting the strings themselves, in reverse, puts a longer secret before a prefix "
        "of it)"),
    "epic_mcp.fhir.results.x__patient_id__mutmut_16": _FIRST_PART.replace("'?'", "'/'"),
    "epic_mcp.fhir.results.x__patient_id__mutmut_29": _FIRST_PART.replace("'?'", "'/'"),
    "epic_mcp.fhir.results.x_ignored_parameters__mutmut_31": _FIRST_PART.replace("'?'", "'='"),
    "epic_mcp.fhir.results.x_ignored_parameters__mutmut_34": _FIRST_PART.replace("'?'", "'='"),
    "epic_mcp.fhir.results.x_linked_patients__mutmut_16": (
        "equivalent: an Appointment has no subject, patient or beneficiary element; its patients are only among its "
        "participants"),
    "epic_mcp.fhir.results.x_reported_total__mutmut_6": (
        "equivalent: when the server's total equals the results seen, either branch gives that same number"),
    "epic_mcp.fhir.catalog.x__ordered__mutmut_9": (
        "equivalent: every argument of an alternative is a parameter of the operation, so the default is never used"),
    "epic_mcp.fhir.catalog.x__ordered__mutmut_11": (
        "equivalent: every argument of an alternative is a parameter of the operation, so the default is never used"),
    "epic_mcp.auth.token.xǁTokenManagerǁget_token__mutmut_1": (
        "equivalent: refresh() returns the cached token itself while it is fresh; get_token's check only saves a call"),
    "epic_mcp.auth.token.xǁTokenManagerǁget_token__mutmut_5": (
        "equivalent: refresh() returns the cached token itself while it is fresh; get_token's check only saves a call"),
    "epic_mcp.auth.token.x_discover_token_url__mutmut_16": _METHOD_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_request_token__mutmut_34": _METHOD_CASE,
    "epic_mcp.auth.token.x_discover_token_url__mutmut_21": _HEADER_CASE,
    "epic_mcp.auth.token.x_discover_token_url__mutmut_22": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_16": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_17": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_25": _HEADER_CASE,
    "epic_mcp.auth.token.xǁBearerAuthǁasync_auth_flow__mutmut_26": _HEADER_CASE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_request_token__mutmut_14": (
        "equivalent: the client assertion is a JWT, which the JWT shape rule redacts whether or not it is remembered"),
    "epic_mcp.auth.token.x_send_with_retry__mutmut_30": _UNREACHABLE,
    "epic_mcp.auth.token.x_send_with_retry__mutmut_31": _UNREACHABLE,
    "epic_mcp.auth.token.x_send_with_retry__mutmut_32": _UNREACHABLE,
    "epic_mcp.auth.token.xǁTokenManagerǁ_discover_token_url__mutmut_6": (
        "equivalent: epic-mcp builds its one TokenManager (fhir/connection.py) with the default RETRY_DELAYS, so "
        "discovery retries on the same delays with or without them; only tests pass others, not to wait"),
    "epic_mcp.auth.token.xǁTokenManagerǁ_parse_token_response__mutmut_2": (
        "equivalent: a body that is not JSON is refused as not a JSON object, whether it is read as None or ''"),
    "epic_mcp.render.elements.x_reactions__mutmut_9": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_reactions__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_participants__mutmut_38": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_care_plan_activities__mutmut_26": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_provisions__mutmut_17": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_eob_items__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_25": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_34": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_dosages__mutmut_119": _IGNORES_RESOURCE,
    "epic_mcp.render.datatypes.x_choice__mutmut_42": _IGNORES_RESOURCE,
    "epic_mcp.render.elements.x_components__mutmut_16": _NO_REFERENCE,
    "epic_mcp.render.elements.x_dosages__mutmut_45": _NO_REFERENCE,
    "epic_mcp.render.elements.x_dosages__mutmut_106": _NO_REFERENCE,
    "epic_mcp.render.elements.x_family_conditions__mutmut_22": _NO_REFERENCE,
    "epic_mcp.render.elements.x_ingredients__mutmut_17": _NO_REFERENCE,
    "epic_mcp.render.elements.x_participants__mutmut_54": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension_field__mutmut_4": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension_field__mutmut_11": _RENDERED_EXTENSIONS,
    "epic_mcp.render.specs.x__extension__mutmut_14": _RENDERED_EXTENSIONS,
    "epic_mcp.render.elements.x_participants__mutmut_65": _NO_URL,
    "epic_mcp.render.elements.x_participants__mutmut_67": _NO_URL,
    "epic_mcp.render.elements.x_participants__mutmut_70": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_7": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_9": _NO_URL,
    "epic_mcp.render.specs.x__extension__mutmut_12": _NO_URL,
    "epic_mcp.render.datatypes.x_extension_name__mutmut_4": _LAST_PART,
    "epic_mcp.render.datatypes.x_extension_name__mutmut_10": _LAST_PART,
    "epic_mcp.render.elements.x_dosages__mutmut_104": _MISSING_RATIO,
    "epic_mcp.render.elements.x_ingredients__mutmut_15": _MISSING_RATIO,
    "epic_mcp.render.datatypes.x_coding__mutmut_2": (
        "equivalent: concept() skips codings that are not objects, so a non-object Coding renders nothing either way"),
    "epic_mcp.render.text.x_as_json__mutmut_3": (
        "equivalent: ensure_ascii=None is falsy, as False is"),
    "epic_mcp.render.text.x_item_lines__mutmut_6": (
        "equivalent: records on a page have different ids, so an id is never a field every record shares"),
    "epic_mcp.render.text.x_item_lines__mutmut_7": (
        "equivalent: records on a page have different ids, so an id is never a field every record shares"),
    **{f"epic_mcp.render.text.x_{name}__mutmut_{n}": _TEXTS_ONCE for name, numbers in (
        ("record_line", (12, 14)), ("fields", (9,)), ("page_text", (28, 31)), ("item_lines", (27, 29, 30, 43, 45, 47)))
       for n in numbers},
    **{f"epic_mcp.render.text.x_field_texts__mutmut_{n}": _FIELDS_SKIP for n in range(3, 8)},
    "epic_mcp.render.text.x_item_lines__mutmut_32": (
        "equivalent: a field every record shares has the same value, so the same text, in the second record as in "
        "the first (and a page with shared fields has at least two)"),
    "epic_mcp.render.elements.x_issued_if_later__mutmut_30": (
        "equivalent: no FHIR date or instant is 11 characters long"),
    **{f"epic_mcp.answers.collect.x__since__mutmut_{n}": (
        "equivalent: a scan's read_back_days is -1 (it read only what is dated after today) or one of WINDOW_EDGES "
        "(90 days or more), never 0, the one value where the mutant differs") for n in (4, 5)},
    "epic_mcp.answers.collect.x__sortable__mutmut_2": (
        "equivalent: no FHIR date or dateTime is 11 characters long"),
    "epic_mcp.answers.medications.x__ended_stay__mutmut_19": _LAST_PART,
    "epic_mcp.answers.medications.x__ended_stay__mutmut_23": _LAST_PART,
    "epic_mcp.answers.medications.x__supply_end__mutmut_40": "equivalent: no refills and zero refills both add no fill",
    "epic_mcp.answers.medications.x__days__mutmut_16": "equivalent: neither '' nor 'xxxx' is a unit UNIT_DAYS knows",
    "epic_mcp.answers.medications.x__days__mutmut_17": "equivalent: neither '' nor 'xxxx' is a unit UNIT_DAYS knows",
    "epic_mcp.answers.medications.x_medication_list__mutmut_49": (
        "equivalent: judge reads a patient only when there is one, and '' is no more a patient than None"),
    "epic_mcp.answers.medications.x_medication_concept__mutmut_40": (
        "equivalent: a concept whose text is None names no drug and gives no key, as an empty one does "
        "(concept_label and drug_keys read only text that is a string)"),
    "epic_mcp.answers.medications.x_normalised_name__mutmut_31": _BEFORE_THE_STRENGTH,
    "epic_mcp.answers.medications.x_normalised_name__mutmut_35": _BEFORE_THE_STRENGTH,
    **{f"epic_mcp.answers.medications.x_drug_keys__mutmut_{n}": (
        "equivalent: a coding without a system is not RxNorm's whatever stands in for the missing system ('', "
        "'None', 'XXXX')") for n in (19, 21, 24)},
    "epic_mcp.answers.medications.x_grace_days__mutmut_22": (
        "equivalent: the grace period is 90 days at least, so a missing supply counting as 0 or 1 day changes nothing"),
    "epic_mcp.answers.medications.x_covered_until__mutmut_31": _NO_END_NO_WORDS,
    "epic_mcp.answers.medications.x__repeats__mutmut_19": "equivalent: a count of 0 gives 0 on either branch",
    "epic_mcp.answers.medications.x_covered_until__mutmut_76": _NO_END_NO_WORDS,
    "epic_mcp.answers.medications.x__stay__mutmut_25": _LAST_PART,
    "epic_mcp.answers.medications.x__stay__mutmut_28": _LAST_PART,
    "epic_mcp.answers.medications.x__stay__mutmut_72": (
        "equivalent: judge reads the day a stay ended only when it has ended, so the words beside a stay still "
        "going are never shown"),
    "epic_mcp.answers.summary.x__medications__mutmut_25": (
        "equivalent: stale_reason reads a patient only when there is one, and '' is no more a patient than None"),
    "epic_mcp.answers.summary.x_summary_text__mutmut_1": (
        "equivalent: its only caller (server.py) always says whether sections were chosen"),
    "epic_mcp.answers.summary.x_summary_text__mutmut_25": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_29": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_33": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x_summary_text__mutmut_37": _TYPED_RECORDS,
    "epic_mcp.answers.summary.x__problem__mutmut_62": _NONE_DROPPED,
    "epic_mcp.answers.summary.x__problem__mutmut_64": _NONE_DROPPED,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_43": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_45": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_48": _NAMED_BY_CODE,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_94": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_95": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_96": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_97": _FIELDS_SKIP,
    "epic_mcp.answers.summary.x__problem_lines__mutmut_98": _FIELDS_SKIP,
    "epic_mcp.render.datatypes.x_period__mutmut_18": (
        "equivalent: no FHIR date or dateTime is 11 characters long"),
    "epic_mcp.fhir.guard.x_fhir_id_aliases__mutmut_30": (
        "equivalent: an identifier without a system never ends with fhir-id, whatever stands in for the missing "
        "system"),
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_9": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_12": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_15": _JSON_MODE,
    "epic_mcp.serve.middleware.xǁAnswerBudgetǁ__call____mutmut_16": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_16": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_19": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_22": _JSON_MODE,
    "epic_mcp.serve.middleware.x_redact_answers__mutmut_23": _JSON_MODE,
    "epic_mcp.auth.assertion.xǁAssertionSignerǁsign__mutmut_38": (
        "equivalent: PyJWT signs with the header's alg when one is given, and the header always names it"),
    "epic_mcp.auth.assertion.xǁAssertionSignerǁsign__mutmut_42": (
        "equivalent: PyJWT signs with the header's alg when one is given, and the header always names it"),
}

_LOGGED_BY_TYPE = ("equivalent: a failure to find or fetch the issuer's keys is logged by its exception type only "
                   "(and the token refused), so the wording of the message is never shown")
_VERIFIED_BY_DEFAULT = ("equivalent: httpx verifies certificates by default (verify=None and no verify alike); "
                        "tls_context() is that same default context, made once per process")
_NOT_FOLLOWED_BY_DEFAULT = "equivalent: httpx follows no redirect unless asked (None and no argument alike)"
EQUIVALENT |= {
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ__init____mutmut_1": (
        "equivalent: the settings refuse EPIC_MCP_OAUTH_ISSUER without EPIC_MCP_RESOURCE_URL, and the verifier is "
        "made only with an issuer, so both are set whenever this assert runs"),
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ__init____mutmut_14": "equivalent: float('-INF') is float('-inf')",
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_2": _VERIFIED_BY_DEFAULT,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_5": _VERIFIED_BY_DEFAULT,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_3": _NOT_FOLLOWED_BY_DEFAULT,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_6": _NOT_FOLLOWED_BY_DEFAULT,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_17": _HEADER_CASE,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_fetch_keys__mutmut_18": _HEADER_CASE,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_discover_jwks_url__mutmut_8": _HEADER_CASE,
    "epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_discover_jwks_url__mutmut_9": _HEADER_CASE,
    **{f"epic_mcp.access.oauth.xǁAccessTokenVerifierǁ_discover_jwks_url__mutmut_{n}": _LOGGED_BY_TYPE
       for n in (22, 23, 24, 25, 29, 30, 34, 35, 36)},
}

_ASCII_FILE = ("equivalent: json.dump escapes every non-ASCII character, so the clients file is ASCII and reads "
               "and writes the same in any encoding (and 'UTF-8' is 'utf-8')")
_UNIQUE_ENOUGH = "equivalent: the temporary file's name only needs to be unique; any number of random bytes will do"
EQUIVALENT |= {
    **{f"epic_mcp.access.clients.xǁClientStoreǁload__mutmut_{n}": _ASCII_FILE for n in (7, 9)},
    **{f"epic_mcp.access.clients.xǁClientStoreǁ_write__mutmut_{n}": _ASCII_FILE for n in (40, 43, 47)},
    **{f"epic_mcp.access.clients.xǁClientStoreǁ_write__mutmut_{n}": _UNIQUE_ENOUGH for n in (26, 27)},
    "epic_mcp.access.clients.xǁClientStoreǁadd__mutmut_33": (
        "equivalent: secrets.token_urlsafe() makes 32 random bytes when not told how many, as asked here"),
    "epic_mcp.access.clients.xǁNamedClientsǁ__init____mutmut_3": (
        "equivalent: the first _reload() in __init__ always sets the clients (or raises), before any use"),
    **{f"epic_mcp.access.clients.xǁNamedClientsǁ_reload__mutmut_{n}": (
        "equivalent: the marker for a missing file only has to differ from the mtime and size of any file that "
        "exists; no file has an mtime of 0 ns or 1 ns") for n in (4, 5)},
}

_CAST = "equivalent: typing.cast only tells the type checker; at run time it returns its value whatever the type"
_ONE_PATIENT_PREFIX = ("equivalent: a patient parameter names 'Patient/' once at most (Patient/id, or a URL ending "
                       "in it), so splitting from the left, from the right or twice leaves the same id")
EQUIVALENT |= {
    **{f"epic_mcp.access.patient_scope.x_for_current_client__mutmut_{n}": _CAST for n in (5, 9, 10, 11)},
    **{f"epic_mcp.access.patient_scope.x__ids__mutmut_{n}": _ONE_PATIENT_PREFIX for n in (4, 5, 9)},
    "epic_mcp.access.policy.x_refused_call__mutmut_7": "equivalent: a TextContent's type is 'text' when not given",
    "epic_mcp.access.policy.x_client_policy__mutmut_4": (
        "equivalent: the SDK hands middleware a request's params as a mapping whenever it has params; those "
        "without (ping, tools/list without a cursor) are never read"),
}

_PLAIN_JSON = ("equivalent: the fhirpathpy this project installs hands user functions plain JSON (dicts), so the "
               "fallback of getattr is what runs; the attribute is there for the internal nodes other versions hand")
_FAST_PATH = ("equivalent: the fast path is an optimisation that gives fhirpathpy's answers (tests/population/"
              "test_population_fastpath.py holds it to them), so evaluating with fhirpathpy alone changes no row")
EQUIVALENT |= {
    **{f"epic_mcp.population.viewdef.x__data__mutmut_{n}": _PLAIN_JSON for n in (1, 7, 8)},
    **{f"epic_mcp.population.viewdef.xǁViewǁ_value__mutmut_{n}": _FAST_PATH for n in (3, 12)},
    "epic_mcp.population.viewdef.xǁViewǁ_evaluate__mutmut_15": _FAST_PATH,
    "epic_mcp.population.viewdef.xǁViewǁ_compile__mutmut_70": "equivalent: register=None is as falsy as False",
    **{f"epic_mcp.population.viewdef.x_shipped_views__mutmut_{n}": (
        "equivalent: the package's files are paths, which sort by name as their names do") for n in (9, 11)},
}

_SQL_CASE = "equivalent: DuckDB reads SQL keywords and function and column names in any case"
EQUIVALENT |= {
    **{f"epic_mcp.population.database.x__connect__mutmut_{n}": _SQL_CASE for n in (24, 25)},
    "epic_mcp.population.database.x_query__mutmut_23": (
        "equivalent: fetching one or two rows past the cap says the same thing: more rows than the cap exist"),
    "epic_mcp.population.database.x_query__mutmut_59": (
        "equivalent: a thousandth more of a duration is below what the timer can tell from the query's own time"),
}

_NO_LOCATION = ("equivalent: a missing Content-Location is refused whatever stands in for it (None, '' or text "
                "that is no URL under the base) with the same message")
_BULK = "epic_mcp.bulk.client.xǁBulkClientǁ"
EQUIVALENT |= {
    **{f"{_BULK}kickoff__mutmut_{n}": _HEADER_CASE for n in (13, 14, 18, 19)},
    **{f"{_BULK}poll__mutmut_{n}": _HEADER_CASE for n in (14, 15, 24)},
    **{f"{_BULK}download__mutmut_{n}": _HEADER_CASE for n in (15, 16, 20, 21, 71)},
    "epic_mcp.bulk.client.x__retry_after__mutmut_2": _HEADER_CASE,
    **{_BULK + name: _METHOD_CASE for name in ("kickoff__mutmut_37", "poll__mutmut_11", "cancel__mutmut_9",
                                               "download__mutmut_30")},
    _BULK + "__init____mutmut_15": _NOT_FOLLOWED_BY_DEFAULT,
    _BULK + "__init____mutmut_19": _NOT_FOLLOWED_BY_DEFAULT,
    **{f"{_BULK}__init____mutmut_{n}": _NOT_FOLLOWED_BY_DEFAULT for n in (28, 31)},
    **{f"{_BULK}kickoff__mutmut_{n}": _NO_LOCATION for n in (58, 60, 62, 63)},
    _BULK + "kickoff_url__mutmut_8": (
        "equivalent: a group-level export always names its group (Exporter refuses one without, before kick-off)"),
    _BULK + "download__mutmut_63": (
        "equivalent: with nothing downloaded yet, appending to the empty (or new) file writes what writing it anew "
        "writes"),
    _BULK + "download__mutmut_72": (
        "equivalent: a 206 without Content-Range is refused whether the missing header reads as '' or as other text "
        "that does not start with the range asked for"),
}

_DATES = "epic_mcp.phi.dates.x_"
_PARTIAL_DAY = ("equivalent: whole_day is only tested for truth (a whole day can be the birth date), and None is "
                "false as False is")
EQUIVALENT |= {
    _DATES + "_iso__mutmut_9": _PARTIAL_DAY,
    _DATES + "_kanji_month__mutmut_4": _PARTIAL_DAY,
    _DATES + "_month_year__mutmut_4": _PARTIAL_DAY,
    _DATES + "_iso__mutmut_23": "equivalent: a year and month (2026-01) is 7 characters, so [5:8] is [5:7]",
    _DATES + "_day_month_year__mutmut_31": (
        "equivalent: the 'of' group holds at least one space, so the default for an empty one is never used"),
    _DATES + "_month_name__mutmut_8": (
        "equivalent: a month word ends in a letter of a month name or a dot, never an X, so stripping X too strips "
        "the same"),
    _DATES + "_ordinal__mutmut_11": "equivalent: 14 takes 'th' either way (14 % 10 is 4)",
    **{f"{_DATES}rewrite_text__mutmut_{n}": (
        "equivalent: any character the note lacks brackets the dates set aside as well; where the search starts or "
        "ends only changes which one (checked with a note holding every character below the digits)")
       for n in (12, 13, 14, 15)},
    _DATES + "_month_name__mutmut_17": (
        "equivalent for month words as written: the two differ only for a word whose first letter is lower case and "
        "second upper case (`jAN`)"),
}

_DEID = "epic_mcp.phi.resources.xǁDeidentifierǁ"
_UNTYPED = ("equivalent: only a record without a resourceType uses this default (Epic sends none, and a contained "
            "one is found by its type); '', 'None' and 'XXXX' alike are no directory type, a person or a clinician")
_NARRATIVE_TWICE = ("equivalent: a narrative this check lets through is dropped by _element, which the walk hands "
                    "it to ('text' holding a 'div'); the check stays as defence in depth")
_A_NARRATIVE = ("equivalent: an object named text is a Narrative, whose div FHIR requires, and no other element "
                "holds a div; dropping it here or in _element leaves the same")
_PARAMETER_NAME = "equivalent: the part before the first '=' is the same however many splits are made"
_CONTENT_TYPE = ("equivalent: an Attachment's contentType is a code, a string in FHIR JSON: it is structural (kept "
                 "as written) when walked, and set again just after")
_REFERENCE_STRING = ("equivalent: _references() hands over only objects whose reference is a string, so the "
                     "default for a missing one is never used")
_CODING_NO_KEYS = ("equivalent: an object whose keys are only display, identifier and type cannot hold 'coding' "
                   "(or 'XXcodingXX'), so this part of the test is always true")
_CODE_ELEMENT = ("equivalent: an element named code that holds only display (type and identifier are no Coding's) "
                 "is a Coding with a display alone, whose display both paths scrub alike")
EQUIVALENT |= {
    _DEID + "_element__mutmut_95": (
        "equivalent: a Range's only objects are its low and high (its id is a string, its extensions a list)"),
}
EQUIVALENT |= {
    "epic_mcp.phi.resources.x_patient_of__mutmut_10": (
        "equivalent: a Patient's id is a string in FHIR JSON (Epic's and every contained one's)"),
    _DEID + "scope__mutmut_5": "equivalent: terms is empty just before, so |= and = give the same",
    _DEID + "scope__mutmut_45": (
        "equivalent: the identity is None whenever patient_data is false (resource() reads none for the directory, "
        "and the client asks for patient data only)"),
    _DEID + "scope__mutmut_58": "equivalent: what is shown is set whenever the birth date is, so 'and' and 'or' agree",
    **{f"{_DEID}resource__mutmut_{n}": _UNTYPED for n in (4, 6, 10)},
    **{f"{_DEID}_resource__mutmut_{n}": _UNTYPED for n in (5, 7, 11)},
    _DEID + "resource__mutmut_21": (
        "equivalent: the patient a MissingIdentity names is never shown: the client answers with its own message"),
    _DEID + "resource__mutmut_32": (
        "equivalent: identities are keyed by patient ids (strings), so identities.get(None) is None as before"),
    _DEID + "resource__mutmut_35": (
        "equivalent: the directory's text is never scrubbed (_string and _attachment return it before the "
        "scrubber), so the terms it is given are never used"),
    _DEID + "_resource__mutmut_14": _A_NARRATIVE,
    _DEID + "_resource__mutmut_20": _A_NARRATIVE,
    **{f"{_DEID}_resource__mutmut_{n}": _NARRATIVE_TWICE for n in (15, 16, 17, 18, 19)},
    _DEID + "_element__mutmut_1": _A_NARRATIVE,
    **{f"{_DEID}_element__mutmut_{n}": _CODE_ELEMENT for n in (36, 37)},
    **{f"{_DEID}_element__mutmut_{n}": _CODING_NO_KEYS for n in (50, 51)},
    **{f"{_DEID}_link__mutmut_{n}": _LAST_PART for n in (22, 28)},
    **{f"{_DEID}_link__mutmut_{n}": _PARAMETER_NAME for n in (35, 38)},
    _DEID + "_link__mutmut_26": (
        "equivalent: stripping 'X' as well as '/' changes only a last segment ending in X, and no FHIR resource "
        "type ends in X (any other segment is withheld either way)"),
    _DEID + "opaque_link__mutmut_11": _CODEC_CASE,
    _DEID + "real_link__mutmut_4": _CODEC_CASE,
    _DEID + "real_link__mutmut_24": _CODEC_CASE,
    "epic_mcp.phi.resources.x_readable_text__mutmut_14": _CODEC_CASE,
    **{f"{_DEID}_local_terms__mutmut_{n}": _REFERENCE_STRING for n in (9, 11, 14)},
    "epic_mcp.phi.resources.x__references__mutmut_3": (
        "equivalent: _local_terms, its only caller, skips every object whose reference does not match a 'Type/id'"),
    **{f"{_DEID}_attachment__mutmut_{n}": _CONTENT_TYPE for n in (18, 19, 20, 31)},
    _DEID + "_age__mutmut_13": "equivalent: a birthDate is a FHIR date, at most 10 characters",
    **{f"{_DEID}_string__mutmut_{n}": (
        "equivalent for every date the text's rules read (years 1800 to 2200): a whole value of 10 characters "
        "moves by the same offset, and the birth date shows the same, read as an element's date or as text")
       for n in (9, 10)},
    "epic_mcp.phi.resources.x_readable_text__mutmut_6": (
        "equivalent: a content type's parameters follow its type, so the type starts the string with or without "
        "them (a contentType of parameters alone is no MIME type)"),
}

# The second pass (module:CONSTANT#N): module-level regular expressions and constants.
EQUIVALENT |= {
    "epic_mcp.phi.pseudonyms:CHUNK_DIGITS#1": (
        "equivalent: the chunks only speed the conversion up; base62 digits of one number are the same digits "
        "whatever size of chunk they are worked out in (the leading zeros are stripped), and CHUNK follows"),
    "epic_mcp.phi.pseudonyms:PSEUDONYMS_KEPT#1": (
        "equivalent: how many pseudonyms are remembered bounds memory only; one forgotten is made again the same"),
    "epic_mcp.population.viewdef:NAME#1": "equivalent: NAME is used with re.match, which anchors at the start anyway",
    "epic_mcp.auth.urls:ENCODED_PATH_STRUCTURE#4": (
        "equivalent: a %5C or %5c in the path decodes to a backslash in url.path, which the next check refuses"),
    "epic_mcp.redaction:REMEMBERED_SECRETS#1": (
        "equivalent: how many secrets are remembered is a bound on memory; the process holds a few at a time "
        "(current and previous token, assertions), far fewer than 16 or 17"),
    **{f"epic_mcp.phi.resources:DIRECTORY#{n}": (
        "equivalent: Policy.pseudonymized, DIRECTORY's only reader, answers for clinicians (CLINICIANS, by the "
        "policy) before it looks at DIRECTORY") for n in (1, 2)},
    **{f"epic_mcp.phi.resources:DATE_KEY#{n}": (
        "equivalent for FHIR JSON: against every FHIR R4 element name (as tests/phi/test_dates.py reads the R4 "
        "model) the mutated pattern takes no other name that holds a string for a date and misses none; it changes "
        "at most consent (a Reference) or maxDosePerLifetime (a Quantity), objects that never reach it")
       for n in (3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 21, 25, 26, 29, 30, 31, 34, 35, 37, 38, 39, 40)},
    "epic_mcp.redaction:PEM_KEY#6": (
        "equivalent: a PEM block always has a body (a key is at least one base64 line), so asking for at least one "
        "character between BEGIN and END matches the same blocks"),
    "epic_mcp.phi.dates:MONTH_WORD#1": (
        "equivalent: a shorter month name tried first ('jun', 'sep') is then followed by the rest of the longer one, "
        "a letter, where every rule asks for a dot, a comma or a space: the regex backtracks to the longer name"),
}

# epic_mcp.phi.scrub: a label is kept as written before [number], so a label that a shorter one ends is found either
# way; an AGE branch that the one before it contains never matches alone.
_SCRUB = "epic_mcp.phi.scrub:"
_LICENSE = ("equivalent: 'license' is a label on its own after the space, and the label is kept as written, so the "
            "text is the same with or without the driver's prefix")
_YEAR_OLD = ("equivalent: the branch before, `[- ](?:years?|yrs?)[- ]old\\b`, already matches everything this branch "
             "matches ('-year-old', ' year-old')")
EQUIVALENT |= {
    _SCRUB + "PATTERNS#82": (
        "equivalent: a '+1' number not glued to a word is the international pattern's, which runs first; glued to "
        "one, the lookbehind refuses the '+' and the match starts at the 1 either way"),
    _SCRUB + "PATTERNS#145": ("equivalent: 'member id' (number, no, #) is a label on its own, and the label is kept "
                              "as written, so 'insurance member id' gives the same text"),
    _SCRUB + "PATTERNS#146": _LICENSE,
    _SCRUB + "PATTERNS#147": _LICENSE,
    _SCRUB + "PATTERNS#148": _LICENSE,
    _SCRUB + "PATTERNS#149": _LICENSE,
    _SCRUB + "PATTERNS#151": _LICENSE,
    _SCRUB + "PATTERNS#176": ("equivalent: 保険者番号 ends 被保険者番号 and is matched inside it; the label is kept as "
                              "written, so the text is the same"),
    _SCRUB + "AGE#16": _YEAR_OLD,
    _SCRUB + "AGE#17": _YEAR_OLD,
    _SCRUB + "AGE#28": _YEAR_OLD,
}

# epic_mcp.phi.client: DeidentifyingClient and its IdentityCache.
_CLIENT = "epic_mcp.phi.client.xǁDeidentifyingClientǁ"
_ENDS_WITH_DATE = ("equivalent: this name ends with 'date', which the test beside it (base.endswith('date')) already "
                   "takes for a date parameter")
_NO_IDENTITY_SCOPE = ("equivalent: with no identity, the scope's scrubber is the same whether the text counts as "
                      "patient data or not (that flag only decides whether an identity is used, and there is none)")
EQUIVALENT |= {
    "epic_mcp.phi.client.xǁIdentityCacheǁ_store__mutmut_4": (
        "equivalent: OrderedDict.popitem reads `last` as a truth value, and None is false as False is"),
    _CLIENT + "fetch_binary__mutmut_4": _CODEC_CASE,
    **{f"{_CLIENT}_real_id__mutmut_{n}": (
        "equivalent: a Patient's real id comes from its pseudonym, an encryption of it that never equals it, so "
        "real == value already leaves Patients out") for n in (13, 14, 15)},
    **{f"{_CLIENT}_is_date__mutmut_{n}": _ENDS_WITH_DATE for n in (10, 11, 18, 19, 20, 21)},
    _CLIENT + "_clean__mutmut_18": _NO_IDENTITY_SCOPE,
    _CLIENT + "_clean__mutmut_22": _NO_IDENTITY_SCOPE,
    "epic_mcp.phi.client.x_today_in_frame__mutmut_9": (
        "equivalent: when the pseudonym is none, Deidentifier.offset(None) is 0, so today moved by it is today"),
}

# Functions that run only while their module is imported (the builders of the catalog and of the render specs):
# mutmut switches mutants at call time, after the import, so their mutants never run. They are counted apart and
# left out of the score; the tables they build are pinned by tests of their own.
IMPORT_TIME: dict[str, str] = {
    "epic_mcp.fhir.catalog.x_need": "tests/fhir/test_search_parameters.py pins Epic's rules",
    "epic_mcp.fhir.catalog.x_read": ("tests/fhir/test_search_parameters.py and tests/serve/test_tools.py pin every "
                                     "tool"),
    "epic_mcp.fhir.catalog.x_patient_search": ("tests/fhir/test_search_parameters.py pins every search and its "
                                               "parameters"),
    "epic_mcp.fhir.catalog.x_date_param": "tests/fhir/test_search_parameters.py pins every date parameter",
    "epic_mcp.render.specs.x_f": "tests/render/test_render.py pins the fields of every resource type",
    "epic_mcp.render.specs.x_ext": ("tests/render/test_render.py and tests/render/test_render_elements.py pin the "
                                    "extension fields"),
}
