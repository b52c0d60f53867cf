"""The member portal: a second Streamlit app, for members on their phones (`coalition members serve`)."""
