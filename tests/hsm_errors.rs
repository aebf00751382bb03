//! Every way an HSM setup can be wrong, against real SoftHSM2 tokens: each error names the
//! problem, never the PIN, and creates nothing on the token.

#[macro_use]
mod support;

use mayfly::hsm::{Pin, Pkcs11Config, Pkcs11Error, Pkcs11Session};
use support::softhsm::{Hsm, PIN, Setup, TOKEN, module};

/// Runs `attempt`, which must fail; checks the token directory is untouched and the PIN
/// appears in neither the message nor the Debug form. Returns the message.
fn fails(hsm: &Hsm, attempt: impl FnOnce() -> Result<(), Pkcs11Error>) -> String {
    let before = hsm.token_files();
    let err = attempt().unwrap_err();
    assert_eq!(
        hsm.token_files(),
        before,
        "the failed attempt changed the token"
    );
    let (message, debug) = (err.to_string(), format!("{err:?}"));
    assert!(!message.contains(PIN) && !debug.contains(PIN), "{debug}");
    message
}

fn open(config: &Pkcs11Config) -> Result<(), Pkcs11Error> {
    Pkcs11Session::open(config).map(drop)
}

hsm_test!(missing_module, |hsm| {
    let mut config = hsm.config();
    config.module = "/usr/lib/nowhere/libnohsm.so".into();
    assert_eq!(
        fails(hsm, || open(&config)),
        "PKCS#11 module /usr/lib/nowhere/libnohsm.so does not exist"
    );
});

hsm_test!(module_that_is_not_a_library, |hsm| {
    let fake = hsm.dir.join("libfake.so");
    std::fs::write(&fake, "not an ELF file").unwrap();
    let mut config = hsm.config();
    config.module = fake.clone();
    let message = fails(hsm, || open(&config));
    assert!(
        message.starts_with(&format!("cannot load PKCS#11 module {}: ", fake.display())),
        "{message}"
    );
});

hsm_test!(library_that_is_not_a_pkcs11_module, |hsm| {
    // Any shared library without C_GetFunctionList: libcrypto is there wherever SoftHSM2 is
    // (it links it); its directory depends on the architecture.
    let Some(libcrypto) = ["x86_64", "aarch64"]
        .iter()
        .map(|arch| std::path::PathBuf::from(format!("/usr/lib/{arch}-linux-gnu/libcrypto.so.3")))
        .find(|p| p.exists())
    else {
        println!("skipped: no libcrypto.so.3 found");
        return;
    };
    let mut config = hsm.config();
    config.module = libcrypto.clone();
    assert_eq!(
        fails(hsm, || open(&config)),
        format!(
            "cannot load PKCS#11 module {}: not a PKCS#11 module (it has no C_GetFunctionList)",
            libcrypto.display()
        )
    );
});

hsm_test!(softhsm_without_its_config, Setup::MissingConfig, |hsm| {
    let message = fails(hsm, || open(&hsm.config()));
    assert!(
        message.starts_with(&format!(
            "PKCS#11 module {} failed to initialise: ",
            module().display()
        )),
        "{message}"
    );
    assert!(message.ends_with("(SoftHSM2: check that SOFTHSM2_CONF, or /etc/softhsm/softhsm2.conf, exists and that the directories.tokendir it names exists and is readable)"), "{message}");
});

hsm_test!(token_label_not_found_lists_the_labels, |hsm| {
    hsm.init_token("second-token", "9999");
    let mut config = hsm.config();
    config.token_label = "prod-ca".into();
    let message = fails(hsm, || open(&config));
    assert_eq!(
        message,
        format!(
            "no token labelled \"prod-ca\" in PKCS#11 module {}; tokens present: \"mayfly-test\", \"second-token\"",
            module().display()
        )
    );
});

hsm_test!(wrong_pin, |hsm| {
    let mut config = hsm.config();
    config.pin = Pin::new("123456", "test").unwrap();
    assert_eq!(
        fails(hsm, || open(&config)),
        format!("wrong PIN for token \"{TOKEN}\"")
    );
    // The right PIN still works afterwards (SoftHSM2 counts no retries).
    hsm.open();
});

hsm_test!(pin_of_a_length_the_token_rejects, |hsm| {
    let mut config = hsm.config();
    config.pin = Pin::new("12", "test").unwrap();
    let message = fails(hsm, || open(&config));
    assert!(
        message == format!("wrong PIN for token \"{TOKEN}\"")
            || message.starts_with(&format!(
                "the PIN given for token \"{TOKEN}\" has a length the token rejects"
            )),
        "{message}"
    );
    println!("short PIN: {message}");
});

hsm_test!(locked_pin, |hsm| {
    hsm.lock_user_pin();
    assert_eq!(
        fails(hsm, || open(&hsm.config())),
        format!(
            "the user PIN of token \"{TOKEN}\" is locked after too many wrong PINs; the token's security officer must unlock it"
        )
    );
});

hsm_test!(key_label_not_found_names_it, |hsm| {
    let session = hsm.open();
    assert_eq!(
        fails(hsm, || session.find_key("mayfly-ca").map(drop)),
        format!(
            "no private key labelled \"mayfly-ca\" on token \"{TOKEN}\"; the token holds no private key"
        )
    );
    session.generate_key("mayfly-log-artifacts").unwrap();
    session.generate_key("mayfly-log-issuance").unwrap();
    assert_eq!(
        fails(hsm, || session.find_key("mayfly-ca").map(drop)),
        format!(
            "no private key labelled \"mayfly-ca\" on token \"{TOKEN}\"; private keys present: \"mayfly-log-artifacts\", \"mayfly-log-issuance\""
        )
    );
});

hsm_test!(keys_that_are_not_p256, |hsm| {
    hsm.tool(&[
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "p384",
    ]);
    hsm.tool(&["--keypairgen", "--key-type", "rsa:2048", "--label", "rsa"]);
    let session = hsm.open();
    assert_eq!(
        fails(hsm, || session.find_key("p384").map(drop)),
        format!(
            "key \"p384\" on token \"{TOKEN}\" is an EC key on curve P-384; Mayfly signs with ECDSA P-256 only"
        )
    );
    assert_eq!(
        fails(hsm, || session.find_key("rsa").map(drop)),
        format!(
            "key \"rsa\" on token \"{TOKEN}\" is an RSA key; Mayfly signs with ECDSA P-256 only"
        )
    );
    // Ed25519, where the module and pkcs11-tool support it.
    if hsm
        .tool_output(&[
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--label",
            "ed",
        ])
        .status
        .success()
    {
        assert_eq!(
            fails(hsm, || session.find_key("ed").map(drop)),
            format!(
                "key \"ed\" on token \"{TOKEN}\" is an EdDSA (Edwards curve) key; Mayfly signs with ECDSA P-256 only"
            )
        );
    }
});

hsm_test!(key_that_may_not_sign, |hsm| {
    // pkcs11-tool cannot make a key without CKA_SIGN (its --usage-* flags only add usages),
    // so this test makes one through cryptoki directly. Initialising the module here first
    // also shows that Mayfly tolerates a module some other code in the process initialised.
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;
    let ctx = Pkcs11::new(module()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    {
        let session = ctx.open_rw_session(slot).unwrap();
        session.login(UserType::User, Some(&PIN.into())).unwrap();
        let label = || Attribute::Label(b"derive-only".to_vec());
        session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::EcParams(vec![
                        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                    ]),
                    label(),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sign(false),
                    Attribute::Derive(true),
                    label(),
                ],
            )
            .unwrap();
    }
    let session = hsm.open();
    assert_eq!(
        fails(hsm, || session.find_key("derive-only").map(drop)),
        format!("key \"derive-only\" on token \"{TOKEN}\" may not sign (its CKA_SIGN is false)")
    );
});

hsm_test!(public_key_that_belongs_to_another_key, |hsm| {
    // A private key "mixed" whose public object was replaced by another key's public key.
    hsm.tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "mixed",
        "--id",
        "01",
    ]);
    hsm.tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "other",
        "--id",
        "02",
    ]);
    let other = hsm.tool(&["--read-object", "--type", "pubkey", "--label", "other"]);
    hsm.tool(&["--delete-object", "--type", "pubkey", "--label", "mixed"]);
    let foreign = hsm.dir.join("other.spki.der");
    std::fs::write(&foreign, other).unwrap();
    hsm.tool(&[
        "--write-object",
        foreign.to_str().unwrap(),
        "--type",
        "pubkey",
        "--label",
        "mixed",
        "--id",
        "01",
    ]);
    let session = hsm.open();
    assert_eq!(
        fails(hsm, || session.find_key("mixed").map(drop)),
        format!(
            "the public key found for key \"mixed\" on token \"{TOKEN}\" does not belong to its private key (a test signature did not verify)"
        )
    );
});

hsm_test!(private_key_without_public_key, |hsm| {
    hsm.tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "lonely",
        "--id",
        "07",
    ]);
    hsm.tool(&["--delete-object", "--type", "pubkey", "--label", "lonely"]);
    let session = hsm.open();
    let before = hsm.token_files();
    match session.find_key("lonely") {
        // SoftHSM2 may serve CKA_PUBLIC_KEY_INFO on the private key: then the key is usable.
        Ok(key) => {
            let signature = key.sign(b"m").unwrap();
            assert!(support::softhsm::aws_lc_verifies(
                key.public_key_raw(),
                b"m",
                &signature
            ));
            println!("public key from CKA_PUBLIC_KEY_INFO");
        }
        Err(err) => assert_eq!(
            err.to_string(),
            format!(
                "no public key for key \"lonely\" on token \"{TOKEN}\": no public key object has its CKA_ID or label, and the private key has no CKA_PUBLIC_KEY_INFO"
            )
        ),
    }
    assert_eq!(hsm.token_files(), before);
});

hsm_test!(generate_refuses_an_existing_label_and_bad_labels, |hsm| {
    let session = hsm.open();
    session.generate_key("mayfly-ca").unwrap();
    assert_eq!(
        fails(hsm, || session.generate_key("mayfly-ca").map(drop)),
        format!(
            "token \"{TOKEN}\" already holds a key labelled \"mayfly-ca\"; refusing to create another (choose a new label or use the existing key)"
        )
    );
    for bad in ["", "tab\there", &"x".repeat(129)] {
        assert_eq!(
            fails(hsm, || session.generate_key(bad).map(drop)),
            "a key label must be 1 to 128 bytes of UTF-8 without control characters"
        );
    }
});

hsm_test!(pin_file_problems, |hsm| {
    let missing = hsm.dir.join("missing.pin");
    let message = Pin::from_file(&missing).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "cannot read the PKCS#11 PIN file {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let empty = hsm.dir.join("empty.pin");
    std::fs::write(&empty, "\n").unwrap();
    assert_eq!(
        Pin::from_file(&empty).unwrap_err().to_string(),
        format!("the PKCS#11 PIN from PIN file {} is empty", empty.display())
    );
    // A PIN file as an operator writes it (`echo PIN > file`) opens the token.
    let good = hsm.dir.join("user.pin");
    std::fs::write(&good, format!("{PIN}\n")).unwrap();
    let config = Pkcs11Config::new(module(), TOKEN, Pin::from_file(&good).unwrap());
    assert!(!format!("{config:?}").contains(PIN));
    Pkcs11Session::open(&config).unwrap();
});

hsm_test!(
    a_second_open_in_a_logged_in_process_checks_the_pin_too,
    |hsm| {
        // Login state belongs to the process: once it is logged in, the token answers
        // CKR_USER_ALREADY_LOGGED_IN without looking at the PIN. A second open must still
        // refuse a wrong PIN.
        let _first = hsm.open();
        let mut config = hsm.config();
        config.pin = Pin::new("not-the-pin", "test").unwrap();
        assert_eq!(
            fails(hsm, || open(&config)),
            format!("wrong PIN for token \"{TOKEN}\"")
        );
        hsm.open();
    }
);
