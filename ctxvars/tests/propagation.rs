//! W3C trace context and baggage propagation: table-driven parser tests, carriers, the
//! `inject`/`extract` glue with contexts, and a real child process.

use std::collections::HashMap;
use std::process::Command;

use ctxvars::propagation::{
    env_var_name, extract, extract_with_context, inject, inject_context, Baggage, EnvCarrier,
    Extractor, Injector, Member, ParseError, Property, SpanId, TraceFlags, TraceId, TraceParent,
    TraceState, BAGGAGE, TRACE_PARENT, TRACE_STATE,
};
use ctxvars::{Context, ContextVar};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
const T: &str = "12345678901234567890123456789012";
const P: &str = "1234567890123456";

fn tp(trace_id: u128, parent_id: u64, flags: u8) -> TraceParent {
    TraceParent::new(
        TraceId::new(trace_id).expect("non-zero trace id"),
        SpanId::new(parent_id).expect("non-zero span id"),
        TraceFlags::new(flags),
    )
}

// ---------------------------------------------------------------------------------------
// traceparent
// ---------------------------------------------------------------------------------------

#[test]
fn traceparent_valid_headers() {
    const TRACE_N: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
    const SPAN_N: u64 = 0x00f0_67aa_0ba9_02b7;
    const T_N: u128 = 0x1234_5678_9012_3456_7890_1234_5678_9012;
    const P_N: u64 = 0x1234_5678_9012_3456;
    // (header, trace-id, parent-id, flags kept, header emitted)
    #[rustfmt::skip]
    let cases: Vec<(String, u128, u64, u8, String)> = vec![
        (format!("00-{TRACE}-{SPAN}-01"), TRACE_N, SPAN_N, 0x01, format!("00-{TRACE}-{SPAN}-01")),
        (format!("00-{TRACE}-{SPAN}-00"), TRACE_N, SPAN_N, 0x00, format!("00-{TRACE}-{SPAN}-00")),
        // Version 00 keeps flag bits it gives no meaning (e.g. Level 2's random-trace-id).
        (format!("00-{T}-{P}-ff"), T_N, P_N, 0xff, format!("00-{T}-{P}-ff")),
        (format!("00-{T}-{P}-02"), T_N, P_N, 0x02, format!("00-{T}-{P}-02")),
        // The smallest and largest ids; leading zeros are kept.
        (format!("00-{:032x}-{:016x}-01", 1, 1), 1, 1, 0x01, format!("00-{:032x}-{:016x}-01", 1, 1)),
        (format!("00-{}-{}-01", "f".repeat(32), "f".repeat(16)), u128::MAX, u64::MAX, 0x01,
         format!("00-{}-{}-01", "f".repeat(32), "f".repeat(16))),
        // Future versions: the first four fields are used, what follows a '-' is ignored,
        // only the sampled bit is kept, and the header is emitted as version 00.
        (format!("cc-{T}-{P}-01"), T_N, P_N, 0x01, format!("00-{T}-{P}-01")),
        (format!("cc-{T}-{P}-01-what-the-future-will-be-like"), T_N, P_N, 0x01, format!("00-{T}-{P}-01")),
        (format!("01-{T}-{P}-09-"), T_N, P_N, 0x01, format!("00-{T}-{P}-01")),
        (format!("fe-{T}-{P}-08-XYZ"), T_N, P_N, 0x00, format!("00-{T}-{P}-00")),
    ];
    for (header, trace_id, parent_id, flags, emitted) in cases {
        let parsed: TraceParent = header
            .parse()
            .unwrap_or_else(|e| panic!("{header:?} should parse, got {e}"));
        assert_eq!(parsed.trace_id.get(), trace_id, "{header}");
        assert_eq!(parsed.parent_id.get(), parent_id, "{header}");
        assert_eq!(parsed.flags.bits(), flags, "{header}");
        assert_eq!(parsed.is_sampled(), flags & 1 == 1, "{header}");
        assert_eq!(parsed.to_string(), emitted, "{header}");
        assert_eq!(emitted.parse::<TraceParent>(), Ok(parsed), "{emitted}");
    }
}

#[test]
fn traceparent_invalid_headers() {
    use ParseError::*;
    let zeros = "0".repeat(32);
    let upper = TRACE.to_uppercase();
    #[rustfmt::skip]
    let cases: Vec<(String, ParseError, &str)> = vec![
        (String::new(), InvalidVersion, "empty"),
        (format!("0-{T}-{P}-01"), InvalidVersion, "version too short"),
        (format!("000-{T}-{P}-01"), InvalidVersion, "version too long"),
        (format!("0000-{T}-{P}-01"), InvalidVersion, "version too long"),
        (format!(".0-{T}-{P}-01"), InvalidVersion, "version illegal character"),
        (format!("0.-{T}-{P}-01"), InvalidVersion, "version illegal character"),
        (format!("A0-{T}-{P}-01"), InvalidVersion, "upper-case version"),
        (format!("0A-{T}-{P}-01"), InvalidVersion, "upper-case version"),
        (format!("qw-{T}-{P}-01"), InvalidVersion, "bogus version"),
        (format!(" 00-{T}-{P}-01"), InvalidVersion, "leading whitespace"),
        (format!("00_{T}_{P}_01"), InvalidVersion, "wrong delimiter"),
        (format!("ff-{T}-{P}-01"), ForbiddenVersion, "version ff"),
        (format!("ff-{T}-{P}-01-future"), ForbiddenVersion, "version ff"),
        (format!("00-{T}-{P}"), MissingTraceParentFields, "no flags"),
        (format!("00-{T}"), MissingTraceParentFields, "no parent-id"),
        ("00".to_string(), MissingTraceParentFields, "version only"),
        (format!("00-{zeros}-0000000000000000-01"), ZeroTraceId, "all-zero ids"),
        (format!("00-{zeros}-{P}-01"), ZeroTraceId, "all-zero trace-id"),
        (format!("cc-{zeros}-{P}-01"), ZeroTraceId, "all-zero trace-id, future version"),
        (format!("00-{T}-0000000000000000-01"), ZeroParentId, "all-zero parent-id"),
        (format!("00-.2345678901234567890123456789012-{P}-01"), InvalidTraceId, "trace-id illegal character"),
        (format!("00-1234567890123456789012345678901.-{P}-01"), InvalidTraceId, "trace-id illegal character"),
        (format!("00-{T}3-{P}-01"), InvalidTraceId, "trace-id too long"),
        (format!("00-{}-{P}-01", &T[..31]), InvalidTraceId, "trace-id too short"),
        (format!("00-{upper}-{P}-01"), InvalidTraceId, "upper-case trace-id"),
        (format!("00-4Bf92f3577b34da6a3ce929d0e0e4736-{P}-01"), InvalidTraceId, "one upper-case digit"),
        (format!("00-4bf92f3577b34da6a3ce929d0e0e473\u{e9}-{P}-01"), InvalidTraceId, "non-ascii"),
        (format!("00-+bf92f3577b34da6a3ce929d0e0e4736-{P}-01"), InvalidTraceId, "sign is not hex"),
        // The right total length (55), but a dash in the wrong place.
        (format!("00-{}-2{P}-01", &T[..31]), InvalidTraceId, "misplaced delimiter"),
        (format!("00-{T}-.234567890123456-01"), InvalidParentId, "parent-id illegal character"),
        (format!("00-{T}-123456789012345.-01"), InvalidParentId, "parent-id illegal character"),
        (format!("00-{T}-{P}7-01"), InvalidParentId, "parent-id too long"),
        (format!("00-{T}-{}-01", &P[..15]), InvalidParentId, "parent-id too short"),
        (format!("00-{T}-00F067AA0BA902B7-01"), InvalidParentId, "upper-case parent-id"),
        (format!("00-{T}-{P}-.0"), InvalidFlags, "flags illegal character"),
        (format!("00-{T}-{P}-0."), InvalidFlags, "flags illegal character"),
        (format!("00-{T}-{P}-001"), InvalidFlags, "flags too long"),
        (format!("00-{T}-{P}-1"), InvalidFlags, "flags too short"),
        (format!("00-{T}-{P}-"), InvalidFlags, "empty flags"),
        (format!("00-{T}-{P}-0A"), InvalidFlags, "upper-case flags"),
        (format!("00-{T}-{P}-01."), InvalidFlags, "trailing garbage"),
        (format!("00-{T}-{P}-01 "), InvalidFlags, "trailing whitespace"),
        (format!("cc-{T}-{P}-01.what-the-future-will-be-like"), InvalidFlags, "future version, flags not followed by '-'"),
        (format!("cc-{T}-{P}-0"), InvalidFlags, "future version shorter than 55"),
        (format!("00-{T}-{P}-01-what-the-future-will-be-like"), ExtraTraceParentFields, "version 00 with an extra field"),
        (format!("00-{T}-{P}-01-"), ExtraTraceParentFields, "version 00 with a trailing '-'"),
    ];
    for (header, expected, why) in cases {
        assert_eq!(
            header.parse::<TraceParent>(),
            Err(expected),
            "{why}: {header:?}"
        );
    }
}

#[test]
fn trace_and_span_ids() {
    assert_eq!(TraceId::new(0), None);
    assert_eq!(SpanId::new(0), None);
    assert_eq!(TraceId::from_bytes([0; 16]), None);
    assert_eq!(SpanId::from_bytes([0; 8]), None);

    let mut bytes = [0u8; 16];
    bytes[15] = 0x2a;
    let trace_id = TraceId::from_bytes(bytes).expect("non-zero");
    assert_eq!(trace_id.get(), 42);
    assert_eq!(trace_id.to_bytes(), bytes);
    assert_eq!(trace_id.to_string(), "0000000000000000000000000000002a");
    assert_eq!(
        format!("{trace_id:?}"),
        "TraceId(0000000000000000000000000000002a)"
    );

    let span_id = SpanId::from_bytes([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]).expect("non-zero");
    assert_eq!(span_id.get(), 0xdead_beef_0000_0001);
    assert_eq!(span_id.to_string(), "deadbeef00000001");
    assert_eq!(span_id.to_bytes(), [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);

    assert_eq!(
        TRACE.parse::<TraceId>().map(TraceId::get),
        Ok(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
    );
    assert_eq!(
        "0".repeat(32).parse::<TraceId>(),
        Err(ParseError::ZeroTraceId)
    );
    assert_eq!(
        SPAN.parse::<SpanId>().map(SpanId::get),
        Ok(0x00f0_67aa_0ba9_02b7)
    );
    assert_eq!(
        "0".repeat(16).parse::<SpanId>(),
        Err(ParseError::ZeroParentId)
    );
    assert_eq!(
        "00F067AA0BA902B7".parse::<SpanId>(),
        Err(ParseError::InvalidParentId)
    );
}

#[test]
fn trace_flags() {
    assert!(TraceFlags::SAMPLED.is_sampled());
    assert!(!TraceFlags::default().is_sampled());
    assert!(TraceFlags::new(0x03).is_sampled());
    assert!(!TraceFlags::new(0x02).is_sampled());
    assert_eq!(TraceFlags::new(0x02).with_sampled(true).bits(), 0x03);
    assert_eq!(TraceFlags::new(0x03).with_sampled(false).bits(), 0x02);
    assert_eq!(TraceFlags::new(0x0a).to_string(), "0a");
    assert_eq!(
        tp(1, 1, 0x01).to_string(),
        "00-00000000000000000000000000000001-0000000000000001-01"
    );
}

#[test]
fn traceparent_round_trips_through_display() {
    for (trace_id, parent_id, flags) in [
        (1u128, 1u64, 0u8),
        (u128::MAX, u64::MAX, 0xff),
        (
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            0xb7ad_6b71_6920_3331,
            0x01,
        ),
        (1 << 127, 1 << 63, 0x80),
    ] {
        let original = tp(trace_id, parent_id, flags);
        let header = original.to_string();
        assert_eq!(header.len(), 55);
        assert_eq!(header.parse::<TraceParent>(), Ok(original), "{header}");
    }
}

#[test]
fn parse_error_messages_are_lower_case() {
    use ParseError::*;
    let all = [
        InvalidVersion,
        ForbiddenVersion,
        MissingTraceParentFields,
        ExtraTraceParentFields,
        InvalidTraceId,
        ZeroTraceId,
        InvalidParentId,
        ZeroParentId,
        InvalidFlags,
        TraceStateMissingEquals,
        InvalidTraceStateKey,
        InvalidTraceStateValue,
        DuplicateTraceStateKey,
        TooManyTraceStateMembers,
        BaggageTooLong { len: 9000 },
        TooManyBaggageMembers { count: 200 },
        EmptyBaggageMember,
        BaggageMissingEquals,
        InvalidBaggageKey,
        InvalidBaggageValue,
        InvalidBaggageProperty,
    ];
    for error in all {
        let message = error.to_string();
        assert!(!message.is_empty());
        assert_eq!(message, message.to_lowercase(), "{error:?}");
        assert!(!message.ends_with('.'), "{error:?}");
    }
    assert_eq!(
        ForbiddenVersion.to_string(),
        "traceparent version ff is forbidden"
    );
    assert_eq!(
        BaggageTooLong { len: 9000 }.to_string(),
        "baggage is 9000 bytes, more than the limit of 8192"
    );
    assert_eq!(
        TooManyBaggageMembers { count: 200 }.to_string(),
        "baggage has 200 list-members, more than the limit of 180"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(ZeroTraceId);
    assert_eq!(boxed.to_string(), "traceparent trace-id is all zeros");
}

// ---------------------------------------------------------------------------------------
// tracestate
// ---------------------------------------------------------------------------------------

/// `tracestate` entries as (key, value).
type Entries<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn tracestate_valid_headers() {
    // (header, entries, header emitted)
    #[rustfmt::skip]
    let cases: Vec<(&str, Entries<'_>, &str)> = vec![
        ("", vec![], ""),
        (" \t ", vec![], ""),
        (",", vec![], ""),
        ("foo=1", vec![("foo", "1")], "foo=1"),
        ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
         vec![("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")],
         "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ("foo=1 \t , \t bar=2, \t baz=3", vec![("foo", "1"), ("bar", "2"), ("baz", "3")], "foo=1,bar=2,baz=3"),
        ("foo=1\t \t,\t \tbar=2", vec![("foo", "1"), ("bar", "2")], "foo=1,bar=2"),
        ("\t foo=1 \t", vec![("foo", "1")], "foo=1"),
        ("foo=1,,bar=2, ,", vec![("foo", "1"), ("bar", "2")], "foo=1,bar=2"),
        ("tenant@vendor=x,0tenant@v=y,a-b_c*d/e=z",
         vec![("tenant@vendor", "x"), ("0tenant@v", "y"), ("a-b_c*d/e", "z")],
         "tenant@vendor=x,0tenant@v=y,a-b_c*d/e=z"),
        // Spaces inside a value are allowed (not at its end).
        ("foo=a b", vec![("foo", "a b")], "foo=a b"),
    ];
    for (header, entries, emitted) in cases {
        let state: TraceState = header
            .parse()
            .unwrap_or_else(|e| panic!("{header:?} should parse, got {e}"));
        assert_eq!(state.iter().collect::<Vec<_>>(), entries, "{header:?}");
        assert_eq!(state.len(), entries.len());
        assert_eq!(state.to_string(), emitted, "{header:?}");
        for (key, value) in entries {
            assert_eq!(state.get(key), Some(value));
        }
    }
    let printable: String = (0x20u8..=0x7e)
        .map(char::from)
        .filter(|c| *c != ',' && *c != '=')
        .collect();
    let state: TraceState = format!("foo={printable}")
        .parse()
        .expect("all allowed characters");
    assert_eq!(state.get("foo"), Some(printable.as_str()));
    let longest = "v".repeat(256);
    let state: TraceState = format!("k={longest}").parse().expect("256 characters");
    assert_eq!(state.get("k"), Some(longest.as_str()));
}

#[test]
fn tracestate_invalid_headers() {
    use ParseError::*;
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    #[rustfmt::skip]
    let cases: Vec<(String, ParseError)> = vec![
        ("foo".to_string(), TraceStateMissingEquals),
        ("foo=1,bar".to_string(), TraceStateMissingEquals),
        ("foo =1".to_string(), InvalidTraceStateKey),
        ("FOO=1".to_string(), InvalidTraceStateKey),
        ("foo.bar=1".to_string(), InvalidTraceStateKey),
        ("1foo=1".to_string(), InvalidTraceStateKey),
        ("=1".to_string(), InvalidTraceStateKey),
        ("foo@=1,bar=2".to_string(), InvalidTraceStateKey),
        ("@foo=1,bar=2".to_string(), InvalidTraceStateKey),
        ("foo@@bar=1,bar=2".to_string(), InvalidTraceStateKey),
        ("foo@bar@baz=1,bar=2".to_string(), InvalidTraceStateKey),
        ("t@1sys=1".to_string(), InvalidTraceStateKey),
        (format!("t@{}=1", "s".repeat(15)), InvalidTraceStateKey),
        (format!("{}=1", "k".repeat(257)), InvalidTraceStateKey),
        (format!("{}@s=1", "t".repeat(242)), InvalidTraceStateKey),
        ("foo=".to_string(), InvalidTraceStateValue),
        ("foo=a=b".to_string(), InvalidTraceStateValue),
        ("foo=a\u{7f}".to_string(), InvalidTraceStateValue),
        ("foo=caf\u{e9}".to_string(), InvalidTraceStateValue),
        (format!("foo={}", "v".repeat(257)), InvalidTraceStateValue),
        ("foo=1,foo=1".to_string(), DuplicateTraceStateKey),
        ("foo=1,foo=2".to_string(), DuplicateTraceStateKey),
        (members(33), TooManyTraceStateMembers),
    ];
    for (header, expected) in cases {
        assert_eq!(header.parse::<TraceState>(), Err(expected), "{header:?}");
    }
    // The limits themselves are fine.
    assert_eq!(members(32).parse::<TraceState>().map(|s| s.len()), Ok(32));
    assert!(format!("{}=1", "k".repeat(256))
        .parse::<TraceState>()
        .is_ok());
    let longest_multi_tenant = format!("{}@{}=1", "t".repeat(241), "s".repeat(14));
    assert!(longest_multi_tenant.parse::<TraceState>().is_ok());
}

#[test]
fn tracestate_mutation() {
    let mut state: TraceState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        .parse()
        .expect("valid");
    state.insert("congo", "ucfJifl5GOE").expect("valid entry");
    assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
    state.insert("new", "1").expect("valid entry");
    assert_eq!(
        state.to_string(),
        "new=1,congo=ucfJifl5GOE,rojo=00f067aa0ba902b7"
    );
    assert_eq!(state.remove("congo").as_deref(), Some("ucfJifl5GOE"));
    assert_eq!(state.remove("congo"), None);
    assert_eq!(state.to_string(), "new=1,rojo=00f067aa0ba902b7");
    assert_eq!(
        state.insert("Bad", "1"),
        Err(ParseError::InvalidTraceStateKey)
    );
    assert_eq!(
        state.insert("ok", "a,b"),
        Err(ParseError::InvalidTraceStateValue)
    );
    assert_eq!(state.len(), 2);

    let mut full = TraceState::new();
    for i in 0..40 {
        full.insert(format!("k{i}"), "v").expect("valid entry");
    }
    assert_eq!(full.len(), TraceState::MAX_MEMBERS);
    // The newest is left-most; the oldest were dropped from the right.
    assert_eq!(full.iter().next(), Some(("k39", "v")));
    assert_eq!(full.iter().last(), Some(("k8", "v")));
    assert_eq!(full.get("k7"), None);
}

// ---------------------------------------------------------------------------------------
// baggage
// ---------------------------------------------------------------------------------------

type Props<'a> = Vec<(&'a str, Option<&'a str>)>;
/// A baggage member as (key, value, properties).
type MemberParts<'a> = (&'a str, &'a str, Props<'a>);

fn members(baggage: &Baggage) -> Vec<MemberParts<'_>> {
    baggage
        .iter()
        .map(|m| {
            let props = m
                .properties()
                .iter()
                .map(|p| (p.key(), p.value()))
                .collect();
            (m.key(), m.value(), props)
        })
        .collect()
}

#[test]
fn baggage_valid_headers() {
    let tchars = "!#$%&'*+-.^_`|~09AZaz";
    let tchars_header = format!("{tchars}=v");
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<MemberParts<'_>>)> = vec![
        // The specification's example.
        ("key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue", vec![
            ("key1", "value1", vec![("property1", None), ("property2", None)]),
            ("key2", "value2", vec![]),
            ("key3", "value3", vec![("propertyKey", Some("propertyValue"))]),
        ]),
        ("userId=alice,serverNode=DF%2028,isProduction=false", vec![
            ("userId", "alice", vec![]),
            ("serverNode", "DF 28", vec![]),
            ("isProduction", "false", vec![]),
        ]),
        // OWS (spaces and tabs) around ',', ';' and '=' is not part of keys or values.
        ("userId =   alice , \tserverNode\t=\tDF%2028 ;\tp\t=\tx\t;  q  ", vec![
            ("userId", "alice", vec![]),
            ("serverNode", "DF 28", vec![("p", Some("x")), ("q", None)]),
        ]),
        ("key1=", vec![("key1", "", vec![])]),
        ("k= ;p", vec![("k", "", vec![("p", None)])]),
        ("k=v;p=", vec![("k", "v", vec![("p", Some(""))])]),
        // `=` may appear in values; only the first one separates.
        ("k=a=b=c", vec![("k", "a=b=c", vec![])]),
        ("k=v;p=a=b", vec![("k", "v", vec![("p", Some("a=b"))])]),
        // Percent-decoding: UTF-8, either hex case, encoded separators and spaces.
        ("k=caf%C3%A9", vec![("k", "café", vec![])]),
        ("k=%e2%9c%93", vec![("k", "✓", vec![])]),
        ("k=%20padded%20", vec![("k", " padded ", vec![])]),
        ("k=a%2Cb%3Bc%3Dd%25", vec![("k", "a,b;c=d%", vec![])]),
        ("k=v;p=x%20y", vec![("k", "v", vec![("p", Some("x y"))])]),
        // A `%` that starts no escape is literal.
        ("k=100%", vec![("k", "100%", vec![])]),
        ("k=%zz%4", vec![("k", "%zz%4", vec![])]),
        // Decoded bytes that are not UTF-8 become U+FFFD.
        ("k=%FF", vec![("k", "\u{fffd}", vec![])]),
        ("k=a%C3", vec![("k", "a\u{fffd}", vec![])]),
        ("k=%C3%28", vec![("k", "\u{fffd}(", vec![])]),
        // Every tchar is allowed in keys; keys are case-sensitive.
        (&tchars_header, vec![(tchars, "v", vec![])]),
        ("K=1,k=2", vec![("K", "1", vec![]), ("k", "2", vec![])]),
        // A repeated key keeps the last value, at the first position.
        ("a=1,b=2,a=3;p", vec![("a", "3", vec![("p", None)]), ("b", "2", vec![])]),
        ("", vec![]),
        (" \t", vec![]),
    ];
    for (header, expected) in cases {
        let baggage: Baggage = header
            .parse()
            .unwrap_or_else(|e| panic!("{header:?} should parse, got {e}"));
        assert_eq!(members(&baggage), expected, "{header:?}");
        // The lossy parser agrees on valid input.
        assert_eq!(Baggage::parse_lossy(header), baggage, "{header:?}");
    }
}

#[test]
fn baggage_invalid_headers() {
    use ParseError::*;
    #[rustfmt::skip]
    let cases: Vec<(&str, ParseError)> = vec![
        ("a=1,,b=2", EmptyBaggageMember),
        ("a=1,", EmptyBaggageMember),
        (",a=1", EmptyBaggageMember),
        ("a=1, \t ,b=2", EmptyBaggageMember),
        ("novalue", BaggageMissingEquals),
        ("a=1,b", BaggageMissingEquals),
        ("k;p=v", BaggageMissingEquals),
        ("=v", InvalidBaggageKey),
        (" =v", InvalidBaggageKey),
        ("k y=v", InvalidBaggageKey),
        ("k(=v", InvalidBaggageKey),
        ("k\"=v", InvalidBaggageKey),
        ("k/=v", InvalidBaggageKey),
        ("ключ=v", InvalidBaggageKey),
        ("k=a b", InvalidBaggageValue),
        ("k=\"v\"", InvalidBaggageValue),
        ("k=a\\b", InvalidBaggageValue),
        ("k=caf\u{e9}", InvalidBaggageValue),
        ("k=a\u{7f}", InvalidBaggageValue),
        ("k=a\nb", InvalidBaggageValue),
        ("k=v;", InvalidBaggageProperty),
        ("k=v;;p", InvalidBaggageProperty),
        ("k=v;p q", InvalidBaggageProperty),
        ("k=v;=x", InvalidBaggageProperty),
        ("k=v;p=a b", InvalidBaggageProperty),
        ("k=v;p=\"x\"", InvalidBaggageProperty),
        ("k=v;\u{e9}", InvalidBaggageProperty),
    ];
    for (header, expected) in cases {
        assert_eq!(header.parse::<Baggage>(), Err(expected), "{header:?}");
    }
}

#[test]
fn baggage_byte_limit() {
    // Exactly 8192 bytes parses; one more byte does not.
    let at_limit = format!("k={}", "v".repeat(Baggage::MAX_BYTES - 2));
    assert_eq!(at_limit.len(), 8192);
    let parsed: Baggage = at_limit.parse().expect("8192 bytes is within the limit");
    assert_eq!(parsed.get("k").map(str::len), Some(8190));
    assert_eq!(Baggage::parse_lossy(&at_limit), parsed);

    let over = format!("{at_limit}v");
    assert_eq!(
        over.parse::<Baggage>(),
        Err(ParseError::BaggageTooLong { len: 8193 })
    );
    // The lossy parser drops an oversized header whole instead of parsing it.
    assert!(Baggage::parse_lossy(&over).is_empty());
    let over_with_small_first = format!("a=1,{over}");
    assert!(Baggage::parse_lossy(&over_with_small_first).is_empty());
}

#[test]
fn baggage_member_limit() {
    let header = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let at_limit: Baggage = header(180)
        .parse()
        .expect("180 members is within the limit");
    assert_eq!(at_limit.len(), 180);
    assert_eq!(at_limit.get("k179"), Some("v"));
    assert_eq!(
        header(181).parse::<Baggage>(),
        Err(ParseError::TooManyBaggageMembers { count: 181 })
    );
    // The lossy parser keeps the first 180.
    let lossy = Baggage::parse_lossy(&header(250));
    assert_eq!(lossy.len(), 180);
    assert_eq!(lossy.get("k179"), Some("v"));
    assert_eq!(lossy.get("k180"), None);
}

#[test]
fn baggage_lossy_drops_only_bad_members() {
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("a=1,bad,c=3", vec![("a", "1"), ("c", "3")]),
        ("a=1,k=a b,c=3", vec![("a", "1"), ("c", "3")]),
        ("a=1,,c=3,", vec![("a", "1"), ("c", "3")]),
        ("a=1,b=2;,c=3", vec![("a", "1"), ("c", "3")]),
        ("a=1,k y=2,c=3", vec![("a", "1"), ("c", "3")]),
        ("=1,b=2", vec![("b", "2")]),
        ("garbage", vec![]),
    ];
    for (header, expected) in cases {
        let baggage = Baggage::parse_lossy(header);
        let got: Vec<(&str, &str)> = baggage.iter().map(|m| (m.key(), m.value())).collect();
        assert_eq!(got, expected, "{header:?}");
        assert!(
            header.parse::<Baggage>().is_err(),
            "strict parse accepts {header:?}"
        );
    }
}

#[test]
fn baggage_values_round_trip_with_percent_encoding() {
    // (value, its encoding)
    #[rustfmt::skip]
    let cases = [
        ("plain", "plain"),
        ("", ""),
        (" ", "%20"),
        ("DF 28", "DF%2028"),
        ("a,b", "a%2Cb"),
        ("a;b", "a%3Bb"),
        ("100%", "100%25"),
        ("%20", "%2520"),
        ("a=b", "a%3Db"),
        ("\"quoted\"", "%22quoted%22"),
        ("back\\slash", "back%5Cslash"),
        ("tab\tnew\nline", "tab%09new%0Aline"),
        ("café", "caf%C3%A9"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("🎉", "%F0%9F%8E%89"),
        ("!#$&'()*+-./:<>?@[]^_`{|}~", "!#$&'()*+-./:<>?@[]^_`{|}~"),
    ];
    for (value, encoded) in cases {
        let mut baggage = Baggage::new();
        assert_eq!(baggage.insert("k", value), Ok(None));
        let header = baggage.to_string();
        assert_eq!(header, format!("k={encoded}"), "{value:?}");
        // Only baggage-octets, and no raw '=', go on the wire.
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\",;\\=".contains(&b)),
            "{encoded}"
        );
        let parsed: Baggage = header.parse().expect("emitted header parses");
        assert_eq!(parsed.get("k"), Some(value), "{header}");
        assert_eq!(parsed, baggage);
    }
}

#[test]
fn baggage_properties_round_trip() {
    let member = Member::new("k", "v w")
        .expect("valid key")
        .with_property(Property::key_only("flag").expect("valid key"))
        .with_property(Property::new("meta", "a b;c,d=é").expect("valid key"));
    let baggage: Baggage = [
        member.clone(),
        Member::new("other", "1").expect("valid key"),
    ]
    .into_iter()
    .collect();
    let header = baggage.to_string();
    assert_eq!(header, "k=v%20w;flag;meta=a%20b%3Bc%2Cd%3D%C3%A9,other=1");
    let parsed: Baggage = header.parse().expect("emitted header parses");
    assert_eq!(parsed, baggage);
    let k = parsed.member("k").expect("member k");
    assert_eq!(k, &member);
    assert_eq!(k.properties()[0].key(), "flag");
    assert_eq!(k.properties()[0].value(), None);
    assert_eq!(k.properties()[1].value(), Some("a b;c,d=é"));
    assert_eq!(
        member.to_string(),
        "k=v%20w;flag;meta=a%20b%3Bc%2Cd%3D%C3%A9"
    );
}

#[test]
fn baggage_mutation() {
    let mut baggage = Baggage::new();
    assert!(baggage.is_empty());
    assert_eq!(baggage.insert("a", "1"), Ok(None));
    assert_eq!(baggage.insert("b", "2"), Ok(None));
    let old = baggage
        .insert("a", "3")
        .expect("valid key")
        .expect("a was present");
    assert_eq!(old.value(), "1");
    // Replacement keeps the position.
    assert_eq!(baggage.to_string(), "a=3,b=2");
    assert_eq!(
        baggage.insert("bad key", "x"),
        Err(ParseError::InvalidBaggageKey)
    );
    assert_eq!(baggage.insert("", "x"), Err(ParseError::InvalidBaggageKey));
    assert_eq!(Member::new("k,", "x"), Err(ParseError::InvalidBaggageKey));
    assert_eq!(
        Property::key_only("p;"),
        Err(ParseError::InvalidBaggageProperty)
    );
    assert_eq!(
        Property::new("", "x"),
        Err(ParseError::InvalidBaggageProperty)
    );
    assert_eq!(
        baggage.remove("a").map(|m| m.value().to_owned()).as_deref(),
        Some("3")
    );
    assert_eq!(baggage.remove("a"), None);
    assert_eq!(baggage.len(), 1);
    let mut extended = baggage.clone();
    extended.extend([Member::new("c", "4").expect("valid key")]);
    assert_eq!(extended.to_string(), "b=2,c=4");
    assert_eq!((&extended).into_iter().count(), 2);
}

#[test]
fn baggage_header_value_applies_the_limits() {
    let mut baggage = Baggage::new();
    baggage.insert("small", "1").expect("valid key");
    // 3 bytes per non-ASCII byte once encoded: this member alone is over the limit.
    baggage.insert("huge", "é".repeat(2000)).expect("valid key");
    baggage.insert("after", "2").expect("valid key");
    assert!(baggage.to_string().len() > Baggage::MAX_BYTES);
    assert_eq!(baggage.header_value(), "small=1,after=2");

    let mut exact = Baggage::new();
    exact.insert("a", "x".repeat(4000)).expect("valid key");
    exact.insert("b", "y".repeat(4188)).expect("valid key");
    // "a=…" (4002) + "," + "b=…" (4190) = 8193 bytes, one too many counting the comma:
    // "b" is left out, and the next, smaller member still goes in.
    exact.insert("c", "z").expect("valid key");
    let header = exact.header_value();
    assert_eq!(header.len(), 4002 + 4);
    assert!(header.ends_with(",c=z"));
    exact.remove("c");
    exact.insert("b", "y".repeat(4187)).expect("valid key");
    assert_eq!(exact.header_value().len(), 8192);
    assert_eq!(exact.header_value().parse::<Baggage>(), Ok(exact.clone()));

    let many: Baggage = (0..200)
        .map(|i| Member::new(format!("k{i}"), "v").expect("valid key"))
        .collect();
    assert_eq!(many.len(), 200);
    let header = many.header_value();
    let parsed: Baggage = header.parse().expect("within limits");
    assert_eq!(parsed.len(), Baggage::MAX_MEMBERS);
    assert_eq!(parsed.get("k179"), Some("v"));
    assert_eq!(parsed.get("k180"), None);
}

// ---------------------------------------------------------------------------------------
// carriers
// ---------------------------------------------------------------------------------------

#[test]
fn hash_map_carrier() {
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("TraceParent".to_string(), "old".to_string());
    map.insert("other".to_string(), "kept".to_string());
    Injector::set(&mut map, "traceparent", "new".to_string());
    assert_eq!(map.len(), 2);
    assert_eq!(map.get("traceparent").map(String::as_str), Some("new"));
    Injector::set(&mut map, "BAGGAGE", "b".to_string());
    assert_eq!(map.get("baggage").map(String::as_str), Some("b"));

    let mut headers: HashMap<String, String> = HashMap::new();
    headers.insert("TRACEPARENT".to_string(), "x".to_string());
    assert_eq!(Extractor::get(&headers, "traceparent"), Some("x"));
    assert_eq!(Extractor::get(&headers, "baggage"), None);
    // Two spellings of one header are ambiguous, unless one is the exact key.
    headers.insert("TraceParent".to_string(), "y".to_string());
    assert_eq!(Extractor::get(&headers, "traceparent"), None);
    headers.insert("traceparent".to_string(), "z".to_string());
    assert_eq!(Extractor::get(&headers, "traceparent"), Some("z"));
}

#[test]
fn env_var_names() {
    for (key, name) in [
        ("traceparent", "TRACEPARENT"),
        ("tracestate", "TRACESTATE"),
        ("baggage", "BAGGAGE"),
        ("x-b3-traceid", "X_B3_TRACEID"),
        ("ot.tracer_id", "OT_TRACER_ID"),
        ("3rd", "_3RD"),
        ("", "_"),
        ("é", "_"),
    ] {
        assert_eq!(env_var_name(key), name, "{key:?}");
    }
}

#[test]
fn env_carrier() {
    let carrier = EnvCarrier::from_vars([
        ("TRACEPARENT", "tp"),
        ("BAGGAGE", "secret=1"),
        ("PATH", "/bin"),
    ]);
    assert_eq!(carrier.get("traceparent"), Some("tp"));
    assert_eq!(carrier.get("baggage"), Some("secret=1"));
    assert_eq!(carrier.get("tracestate"), None);
    let debug = format!("{carrier:?}");
    assert!(debug.contains("TRACEPARENT"), "{debug}");
    assert!(
        !debug.contains("secret"),
        "Debug must not show values: {debug}"
    );

    let mut out = EnvCarrier::new();
    out.set("traceparent", "v".to_string());
    out.set("x-custom", "w".to_string());
    assert_eq!(
        out.iter().collect::<Vec<_>>(),
        [("TRACEPARENT", "v"), ("X_CUSTOM", "w")]
    );

    // A snapshot of the real environment sees this process's variables.
    let snapshot = EnvCarrier::from_env();
    let path = std::env::var("PATH").expect("PATH is set for tests");
    assert_eq!(
        snapshot.iter().find(|(k, _)| *k == "PATH").map(|(_, v)| v),
        Some(path.as_str())
    );
}

#[test]
fn command_carrier_sets_child_environment() {
    let mut cmd = Command::new("true");
    TRACE_PARENT.scope(tp(0xabc, 0xdef, 1), || {
        BAGGAGE.scope(
            "user=alice,city=S%C3%A3o%20Paulo".parse().expect("valid"),
            || inject(&mut cmd),
        )
    });
    let envs: HashMap<String, String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect();
    assert_eq!(envs.len(), 2, "{envs:?}");
    assert_eq!(
        envs.get("TRACEPARENT").map(String::as_str),
        Some("00-00000000000000000000000000000abc-0000000000000def-01")
    );
    assert_eq!(
        envs.get("BAGGAGE").map(String::as_str),
        Some("user=alice,city=S%C3%A3o%20Paulo")
    );
}

// ---------------------------------------------------------------------------------------
// inject / extract with contexts
// ---------------------------------------------------------------------------------------

#[test]
fn inject_writes_only_what_is_set() {
    let mut carrier: HashMap<String, String> = HashMap::new();
    inject(&mut carrier);
    assert!(carrier.is_empty(), "{carrier:?}");

    // A tracestate without a traceparent, and empty values, are not written.
    TRACE_STATE.scope("foo=1".parse().expect("valid"), || {
        BAGGAGE.scope(Baggage::new(), || inject(&mut carrier))
    });
    assert!(carrier.is_empty(), "{carrier:?}");

    TRACE_PARENT.scope(tp(1, 2, 0), || {
        TRACE_STATE.scope(TraceState::new(), || inject(&mut carrier))
    });
    assert_eq!(carrier.len(), 1, "{carrier:?}");
    assert_eq!(
        carrier.get("traceparent").map(String::as_str),
        Some("00-00000000000000000000000000000001-0000000000000002-00")
    );
}

#[test]
fn inject_keeps_baggage_within_the_limits() {
    let mut baggage = Baggage::new();
    baggage.insert("small", "1").expect("valid key");
    baggage.insert("huge", "x".repeat(9000)).expect("valid key");
    let many: Baggage = (0..200)
        .map(|i| Member::new(format!("k{i}"), "v").expect("valid key"))
        .collect();

    let mut carrier: HashMap<String, String> = HashMap::new();
    BAGGAGE.scope(baggage, || inject(&mut carrier));
    assert_eq!(carrier.get("baggage").map(String::as_str), Some("small=1"));

    BAGGAGE.scope(many, || inject(&mut carrier));
    let sent = carrier.get("baggage").expect("baggage injected");
    assert_eq!(sent.split(',').count(), Baggage::MAX_MEMBERS);
    assert!(sent.ends_with(",k179=v"), "{sent}");
}

#[test]
fn inject_extract_round_trip_through_hash_map() {
    let trace_parent: TraceParent = format!("00-{TRACE}-{SPAN}-01").parse().expect("valid");
    let trace_state: TraceState = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        .parse()
        .expect("valid");
    let mut baggage = Baggage::new();
    baggage.insert("userId", "alice smith").expect("valid key");
    baggage.insert_member(
        Member::new("city", "São Paulo, BR")
            .expect("valid key")
            .with_property(Property::key_only("pii").expect("valid key")),
    );

    let mut carrier: HashMap<String, String> = HashMap::new();
    TRACE_PARENT.scope(trace_parent, || {
        TRACE_STATE.scope(trace_state.clone(), || {
            BAGGAGE.scope(baggage.clone(), || inject(&mut carrier))
        })
    });
    let mut expected = HashMap::new();
    expected.insert("traceparent".to_string(), format!("00-{TRACE}-{SPAN}-01"));
    expected.insert(
        "tracestate".to_string(),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_string(),
    );
    expected.insert(
        "baggage".to_string(),
        "userId=alice%20smith,city=S%C3%A3o%20Paulo%2C%20BR;pii".to_string(),
    );
    assert_eq!(carrier, expected);

    // Nothing leaks into the caller's context.
    assert_eq!(TRACE_PARENT.get(), None);

    let mut cx = extract(&carrier);
    assert_eq!(cx.get(&TRACE_PARENT), Some(&trace_parent));
    assert_eq!(cx.get(&TRACE_STATE), Some(&trace_state));
    assert_eq!(cx.get(&BAGGAGE), Some(&baggage));
    assert_eq!(cx.len(), 3);
    assert_eq!(
        TRACE_PARENT.get(),
        None,
        "extract must not touch the current context"
    );

    let (seen, reinjected) = cx.run(|| {
        let mut again: HashMap<String, String> = HashMap::new();
        inject(&mut again);
        (TRACE_PARENT.get(), again)
    });
    assert_eq!(seen, Some(trace_parent));
    assert_eq!(reinjected, carrier);

    // inject_context reads a given context instead of the current one.
    let mut from_cx: HashMap<String, String> = HashMap::new();
    inject_context(&cx, &mut from_cx);
    assert_eq!(from_cx, carrier);
}

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn extract_ignores_invalid_headers() {
    let valid_tp = format!("00-{T}-{P}-01");

    // Invalid traceparent: neither it nor its tracestate is used; baggage still is.
    let cx = extract(&headers(&[
        (
            "traceparent",
            &format!("00-{}-{P}-01", TRACE.to_uppercase()),
        ),
        ("tracestate", "foo=1"),
        ("baggage", "a=1"),
    ]));
    assert_eq!(cx.get(&TRACE_PARENT), None);
    assert_eq!(cx.get(&TRACE_STATE), None);
    assert_eq!(cx.get(&BAGGAGE).and_then(|b| b.get("a")), Some("1"));
    assert_eq!(cx.len(), 1);

    // Invalid tracestate: the traceparent is still used.
    let cx = extract(&headers(&[
        ("traceparent", &valid_tp),
        ("tracestate", "foo=1,foo=2"),
    ]));
    assert_eq!(
        cx.get(&TRACE_PARENT).map(ToString::to_string),
        Some(valid_tp.clone())
    );
    assert_eq!(cx.get(&TRACE_STATE), None);

    // Baggage with only invalid members is not set; bad members are dropped.
    let cx = extract(&headers(&[("baggage", "bad,k=a b")]));
    assert!(cx.is_empty());
    let cx = extract(&headers(&[("baggage", "bad,k=v,x y=1")]));
    assert_eq!(
        cx.get(&BAGGAGE).map(ToString::to_string).as_deref(),
        Some("k=v")
    );

    // Nothing at all.
    assert!(extract(&HashMap::<String, String>::new()).is_empty());
}

#[test]
fn extract_trims_ows_around_traceparent_and_downgrades_future_versions() {
    let expected = format!("00-{T}-{P}-01");
    for value in [
        format!(" 00-{T}-{P}-01"),
        format!("\t00-{T}-{P}-01"),
        format!("00-{T}-{P}-01 "),
        format!("\t 00-{T}-{P}-01 \t"),
        format!("cc-{T}-{P}-01-what-the-future-will-be-like"),
    ] {
        let cx = extract(&headers(&[("TraceParent", &value)]));
        assert_eq!(
            cx.get(&TRACE_PARENT).map(ToString::to_string),
            Some(expected.clone()),
            "{value:?}"
        );
    }
}

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

#[test]
fn extract_with_context_keeps_other_variables() {
    let stale_state: TraceState = "stale=1".parse().expect("valid");
    let mut base = Context::new();
    base.run(|| {
        let _ = REQUEST_ID.set("req-1".to_string());
        let _ = TRACE_PARENT.set(tp(9, 9, 0));
        let _ = TRACE_STATE.set(stale_state.clone());
        let _ = BAGGAGE.set("kept=1".parse().expect("valid"));
    });

    // A new traceparent without tracestate: the stale tracestate must not survive.
    let cx = extract_with_context(
        &base,
        &headers(&[("traceparent", &format!("00-{T}-{P}-00"))]),
    );
    assert_eq!(cx.get(&REQUEST_ID).map(String::as_str), Some("req-1"));
    assert_eq!(
        cx.get(&TRACE_PARENT).map(ToString::to_string),
        Some(format!("00-{T}-{P}-00"))
    );
    assert_eq!(cx.get(&TRACE_STATE), Some(&TraceState::new()));
    assert_eq!(
        cx.get(&BAGGAGE).map(ToString::to_string).as_deref(),
        Some("kept=1")
    );
    let mut out: HashMap<String, String> = HashMap::new();
    inject_context(&cx, &mut out);
    assert_eq!(out.get("tracestate"), None);

    // Invalid headers leave the base's values alone.
    let cx = extract_with_context(
        &base,
        &headers(&[("traceparent", "garbage"), ("baggage", "x")]),
    );
    assert_eq!(cx.get(&TRACE_PARENT), Some(&tp(9, 9, 0)));
    assert_eq!(cx.get(&TRACE_STATE), Some(&stale_state));
    assert_eq!(
        cx.get(&BAGGAGE).map(ToString::to_string).as_deref(),
        Some("kept=1")
    );

    // The base itself is unchanged.
    assert_eq!(base.get(&TRACE_PARENT), Some(&tp(9, 9, 0)));
}

#[test]
fn injector_and_extractor_work_as_trait_objects() {
    let mut map: HashMap<String, String> = HashMap::new();
    {
        let dynamic: &mut dyn Injector = &mut map;
        TRACE_PARENT.scope(tp(5, 6, 1), || inject(dynamic));
    }
    let dynamic: &dyn Extractor = &map;
    assert_eq!(extract(dynamic).get(&TRACE_PARENT), Some(&tp(5, 6, 1)));
}

// ---------------------------------------------------------------------------------------
// child processes: context does not cross processes by itself
// ---------------------------------------------------------------------------------------

#[test]
fn python_child_sees_injected_environment() {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import os; print(os.environ['TRACEPARENT']); print(os.environ['BAGGAGE']); \
         print(os.environ.get('TRACESTATE', '-'))",
    ])
    .env_remove("TRACESTATE");
    TRACE_PARENT.scope(
        tp(
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            0xb7ad_6b71_6920_3331,
            1,
        ),
        || {
            BAGGAGE.scope(
                "userId=alice,serverNode=DF%2028".parse().expect("valid"),
                || inject(&mut cmd),
            )
        },
    );
    // CPython is on every machine this project supports (DEVELOPERS.md).
    let output = cmd.output().expect("spawn python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n\
         userId=alice,serverNode=DF%2028\n\
         -\n"
    );
}
