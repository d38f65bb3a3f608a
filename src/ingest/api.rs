//! Flattening a randomuser.me result into the `users_created` contract.

use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Flattens one API result (DESIGN.md §1). `id` is supplied by the caller
/// (drawn from the seeded RNG so runs are reproducible). `post_code` keeps
/// the type the API sent: number or string.
pub fn flatten(user: &Value, id: Uuid) -> Value {
    let s = |v: &Value| -> Value {
        match v {
            Value::String(_) | Value::Number(_) => v.clone(),
            _ => Value::Null,
        }
    };
    let text = |v: &Value| -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        }
    };
    let loc = &user["location"];
    let address = format!(
        "{} {}, {}, {}, {}",
        text(&loc["street"]["number"]),
        text(&loc["street"]["name"]),
        text(&loc["city"]),
        text(&loc["state"]),
        text(&loc["country"])
    );
    let mut out = Map::new();
    out.insert("id".into(), json!(id.to_string()));
    out.insert("first_name".into(), s(&user["name"]["first"]));
    out.insert("last_name".into(), s(&user["name"]["last"]));
    out.insert("gender".into(), s(&user["gender"]));
    out.insert("address".into(), json!(address));
    out.insert("post_code".into(), s(&loc["postcode"]));
    out.insert("email".into(), s(&user["email"]));
    out.insert("username".into(), s(&user["login"]["username"]));
    out.insert("dob".into(), s(&user["dob"]["date"]));
    out.insert("registered_date".into(), s(&user["registered"]["date"]));
    out.insert("phone".into(), s(&user["phone"]));
    out.insert("picture".into(), s(&user["picture"]["medium"]));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_a_randomuser_result() {
        let user = json!({
            "gender": "female",
            "name": {"title": "Ms", "first": "Zoë", "last": "Dubois"},
            "location": {"street": {"number": 12, "name": "Rue X"}, "city": "Lyon",
                         "state": "Rhône", "country": "France", "postcode": 69001,
                         "coordinates": {}, "timezone": {}},
            "email": "zoe@example.com",
            "login": {"uuid": "x", "username": "bluecat1"},
            "dob": {"date": "1990-01-02T03:04:05.006Z", "age": 35},
            "registered": {"date": "2010-01-02T03:04:05.006Z", "age": 15},
            "phone": "01-23", "cell": "x", "id": {"name": "", "value": null},
            "picture": {"large": "l", "medium": "m", "thumbnail": "t"}, "nat": "FR"
        });
        let id = Uuid::nil();
        let flat = flatten(&user, id);
        assert_eq!(flat["address"], "12 Rue X, Lyon, Rhône, France");
        assert_eq!(flat["post_code"], 69001);
        assert_eq!(flat["username"], "bluecat1");
        assert_eq!(flat["picture"], "m");
        assert_eq!(flat["dob"], "1990-01-02T03:04:05.006Z");
        assert_eq!(flat.as_object().unwrap().len(), 12);
    }
}
