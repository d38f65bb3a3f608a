-- The classic Spark job's transform: every user from the `users_created`
-- topic, as the 11 columns of spark_streams.created_users.
-- (`dob` travels in the JSON but is not stored.)
INSERT INTO created_users (
    id, first_name, last_name, gender, address, post_code,
    email, username, registered_date, phone, picture
)
SELECT
    id, first_name, last_name, gender, address, post_code,
    email, username, registered_date, phone, picture
FROM users_created
