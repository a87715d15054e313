# No old imports: only the calls no new API has are old here.
def value(db, account_id):
    db.users.find_by_clerk_id("u")  # the same name in alex_db: not reported here
    return db.positions.get_portfolio_value(account_id)
