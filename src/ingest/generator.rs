//! A seeded generator of randomuser-shaped records.
//!
//! Deterministic from its seed, ids included (drawn from the seeded RNG, not
//! `Uuid::new_v4()`), so a test can recompute exactly what was produced.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uuid::Uuid;

const FIRST_FEMALE: &[&str] = &[
    "Emma", "Olivia", "Sofia", "Amélie", "Zoë", "Hanna", "Ines", "Lucía", "Maja", "Chloé", "Aylin",
    "Freya", "Noémie", "Ava", "Leonie", "Ida", "Sara", "Elif", "Mia", "Nora", "Camille", "Jasmine",
    "Priya", "Yasmin", "Signe", "Isabella", "Laura", "Marta",
];
const FIRST_MALE: &[&str] = &[
    "Liam", "Noah", "Lucas", "Mathéo", "Jonas", "Oskar", "Mateo", "Ömer", "Emil", "Hugo", "Arjun",
    "Finn", "Elias", "Jakub", "Leo", "Mason", "Diego", "Kerem", "Magnus", "Théo", "Ethan",
    "Rafael", "Aarav", "Nils", "Samuel", "Julian", "Oliver", "Pedro",
];
const LAST: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Dubois",
    "Johansen",
    "Kowalski",
    "Yılmaz",
    "Rossi",
    "Jensen",
    "Martin",
    "Nguyen",
    "Silva",
    "O'Connor",
    "van Dijk",
    "Novak",
    "Lefèvre",
    "Andersen",
    "Fernández",
    "Schmidt",
    "Korhonen",
    "Moreau",
    "Brown",
    "Wilson",
    "Patel",
    "Santos",
    "Hansen",
    "Fischer",
    "Bernard",
    "López",
    "Nieminen",
];
const STREETS: &[&str] = &[
    "Main Street",
    "Rue de la Paix",
    "Hauptstraße",
    "Calle Mayor",
    "Park Avenue",
    "Kirkegata",
    "Mill Lane",
    "Station Road",
    "Via Roma",
    "Oak Drive",
    "Karl Johans gate",
    "Boulevard Saint-Michel",
    "Church Street",
    "Lakeview Road",
    "Şehitler Cd",
];
/// (city, state, country)
const PLACES: &[(&str, &str, &str)] = &[
    ("Dublin", "Leinster", "Ireland"),
    ("Lyon", "Rhône", "France"),
    ("München", "Bayern", "Germany"),
    ("Valencia", "Comunidad Valenciana", "Spain"),
    ("Oslo", "Oslo", "Norway"),
    ("Aarhus", "Midtjylland", "Denmark"),
    ("Tampere", "Pirkanmaa", "Finland"),
    ("Izmir", "İzmir", "Turkey"),
    ("Auckland", "Auckland", "New Zealand"),
    ("Toronto", "Ontario", "Canada"),
    ("Austin", "Texas", "United States"),
    ("Leeds", "West Yorkshire", "United Kingdom"),
    ("Utrecht", "Utrecht", "Netherlands"),
    ("Zürich", "Zürich", "Switzerland"),
    ("Porto Alegre", "Rio Grande do Sul", "Brazil"),
    ("Pune", "Maharashtra", "India"),
];
const WORDS: &[&str] = &[
    "happy", "blue", "silver", "lazy", "tiny", "crazy", "brown", "golden", "purple", "red",
    "black", "white", "heavy", "orange", "yellow",
];
const ANIMALS: &[&str] = &[
    "tiger", "bear", "rabbit", "swan", "koala", "leopard", "frog", "goose", "elephant", "wolf",
    "panda", "cat", "dog", "fish", "bird", "lion", "peacock", "zebra",
];

/// `post_code` as the API sends it: usually a string, sometimes a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PostCode {
    Text(String),
    Number(u32),
}

impl PostCode {
    /// What Cassandra stores: the text, or the number's decimal text.
    pub fn as_text(&self) -> String {
        match self {
            PostCode::Text(s) => s.clone(),
            PostCode::Number(n) => n.to_string(),
        }
    }
}

/// One record of the `users_created` contract (DESIGN.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub address: String,
    pub post_code: PostCode,
    pub email: String,
    pub username: String,
    pub dob: String,
    pub registered_date: String,
    pub phone: String,
    pub picture: String,
}

/// `,"name":"value"`.
fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b',');
    push_json_string(out, name);
    out.push(b':');
    push_json_string(out, value);
}

/// `text` as a JSON string literal: quotes, backslashes and control
/// characters escaped, everything else as it is (JSON text is UTF-8).
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The 11 stored columns of `created_users`, as text, in DESIGN order.
pub const STORED_COLUMNS: [&str; 11] = [
    "id",
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "registered_date",
    "phone",
    "picture",
];

impl User {
    /// The JSON value produced to Kafka, fields in the contract's order.
    /// Written directly, so it cannot fail (and cannot come out empty):
    /// every field is a string but `post_code`, which may be a number.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"id\":");
        push_json_string(&mut out, &self.id.to_string());
        for (name, value) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("gender", &self.gender),
            ("address", &self.address),
        ] {
            push_field(&mut out, name, value);
        }
        out.extend_from_slice(b",\"post_code\":");
        match &self.post_code {
            PostCode::Text(text) => push_json_string(&mut out, text),
            PostCode::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        }
        for (name, value) in [
            ("email", &self.email),
            ("username", &self.username),
            ("dob", &self.dob),
            ("registered_date", &self.registered_date),
            ("phone", &self.phone),
            ("picture", &self.picture),
        ] {
            push_field(&mut out, name, value);
        }
        out.push(b'}');
        out
    }

    /// The row Cassandra must hold for this user, column by column as in
    /// [`STORED_COLUMNS`].
    pub fn stored_row(&self) -> [String; 11] {
        [
            self.id.to_string(),
            self.first_name.clone(),
            self.last_name.clone(),
            self.gender.clone(),
            self.address.clone(),
            self.post_code.as_text(),
            self.email.clone(),
            self.username.clone(),
            self.registered_date.clone(),
            self.phone.clone(),
            self.picture.clone(),
        ]
    }
}

/// Draws users from a ChaCha RNG: the same seed gives the same users on
/// every machine and every version of `rand`'s `StdRng`.
pub struct UserGenerator {
    rng: ChaCha8Rng,
}

impl UserGenerator {
    pub fn new(seed: u64) -> Self {
        UserGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// An id drawn from the RNG (a valid v4 UUID).
    pub fn next_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    /// The first `n` users of `seed`.
    pub fn users(seed: u64, n: usize) -> Vec<User> {
        let mut g = UserGenerator::new(seed);
        (0..n).map(|_| g.next_user()).collect()
    }

    pub fn next_user(&mut self) -> User {
        let id = self.next_id();
        let female = self.rng.random_bool(0.5);
        let first = self.pick(if female { FIRST_FEMALE } else { FIRST_MALE });
        let last = self.pick(LAST);
        let (city, state, country) = PLACES[self.rng.random_range(0..PLACES.len())];
        let number = self.rng.random_range(1..9999);
        let street = self.pick(STREETS);
        let post_code = if self.rng.random_range(0..20) == 0 {
            PostCode::Number(self.rng.random_range(10000..99999))
        } else {
            self.text_post_code()
        };
        let ascii = |s: &str| {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        };
        let email = format!("{}.{}@example.com", ascii(first), ascii(last));
        let username = format!(
            "{}{}{}",
            self.pick(WORDS),
            self.pick(ANIMALS),
            self.rng.random_range(100..999)
        );
        let dob = self.iso_date(1950, 2005);
        let registered_date = self.iso_date(2003, 2024);
        let phone = format!(
            "({:03}) {:03}-{:04}",
            self.rng.random_range(100..999),
            self.rng.random_range(100..999),
            self.rng.random_range(0..9999)
        );
        let picture = format!(
            "https://randomuser.me/api/portraits/med/{}/{}.jpg",
            if female { "women" } else { "men" },
            self.rng.random_range(0..100)
        );
        User {
            id,
            first_name: first.to_string(),
            last_name: last.to_string(),
            gender: if female { "female" } else { "male" }.to_string(),
            address: format!("{number} {street}, {city}, {state}, {country}"),
            post_code,
            email,
            username,
            dob,
            registered_date,
            phone,
            picture,
        }
    }

    fn pick(&mut self, from: &[&'static str]) -> &'static str {
        from[self.rng.random_range(0..from.len())]
    }

    fn text_post_code(&mut self) -> PostCode {
        let letter = |rng: &mut ChaCha8Rng| (b'A' + rng.random_range(0..26u8)) as char;
        let code = match self.rng.random_range(0..3) {
            0 => format!(
                "{}{}{} {}{}{}",
                letter(&mut self.rng),
                self.rng.random_range(0..10),
                letter(&mut self.rng),
                self.rng.random_range(0..10),
                letter(&mut self.rng),
                self.rng.random_range(0..10)
            ),
            1 => format!("{:05}", self.rng.random_range(1000..99999)),
            _ => format!(
                "{:05}-{:03}",
                self.rng.random_range(10000..99999),
                self.rng.random_range(0..999)
            ),
        };
        PostCode::Text(code)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` as randomuser.me writes dates.
    fn iso_date(&mut self, from_year: i32, to_year: i32) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.rng.random_range(from_year..=to_year),
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28),
            self.rng.random_range(0..24),
            self.rng.random_range(0..60),
            self.rng.random_range(0..60),
            self.rng.random_range(0..1000)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_users() {
        assert_eq!(UserGenerator::users(7, 50), UserGenerator::users(7, 50));
        assert_ne!(UserGenerator::users(7, 5), UserGenerator::users(8, 5));
    }

    #[test]
    fn about_one_in_twenty_post_codes_is_a_number() {
        let users = UserGenerator::users(1, 10_000);
        let numeric = users
            .iter()
            .filter(|u| matches!(u.post_code, PostCode::Number(_)))
            .count();
        assert!((350..650).contains(&numeric), "{numeric}");
        let json: serde_json::Value = serde_json::from_slice(&users[0].to_json()).unwrap();
        assert!(json["id"].as_str().unwrap().parse::<Uuid>().is_ok());
        assert!(users.iter().all(|u| u.id.get_version_num() == 4));
    }

    #[test]
    fn the_json_is_what_serde_writes_field_for_field() {
        let mut users = UserGenerator::users(3, 2_000);
        // Text that needs escaping, which the generator does not make.
        users[0].first_name = "Zo\u{eb} \"Q\" O'Brien \\ \n\t\u{1} \u{1F600}".into();
        for user in &users {
            let ours: serde_json::Value = serde_json::from_slice(&user.to_json()).unwrap();
            let serde = serde_json::to_value(user).unwrap();
            assert_eq!(ours, serde, "{}", String::from_utf8_lossy(&user.to_json()));
        }
        // Fields in the contract's order, not sorted.
        let text = String::from_utf8(users[1].to_json()).unwrap();
        assert!(text.starts_with("{\"id\":"), "{text}");
        assert!(text.ends_with(&format!(",\"picture\":\"{}\"}}", users[1].picture)));
    }
}
